"""Rows the warehouse refuses: find them, quarantine them, and load the rest of the run.

Transform only ships values the warehouse's types can hold (``common.value_domain``),
but PostgreSQL may still refuse one: a check the domain misses, a constraint someone
added to the warehouse, a processed run written by other code. The normal path loads a
run with set-based statements (COPY, INSERT ... SELECT), so one refused value fails
the run's whole transaction; and because runs are applied in order and a processed
run never changes, every retry would fail the same way and hold every later run
hostage (SPEC §3: bad input is quarantined and the rest proceeds).

So when a run fails with a *data* exception (``load.errors.is_data_exception``:
SQLSTATE class 22 or 23), ``run.py`` rolls it back and loads it again here, table by
table in load order (dimensions before facts, as the normal path), each table inside
a savepoint, through the staging path only (staging, NULL quarantine, upsert or
append). A table whose rows are refused is split in halves and each half tried again,
down to single rows: a single row still refused goes to ``pipeline.load_quarantine``
with the table, run, its key (in ``row_data``) and the database's message as the reason.
With k refused rows among n that is ``O(k log n)`` attempts, each undone by its
savepoint; halves are applied in file order, so a dimension member twice in a file
still ends at its last row. Infrastructure errors are never caught here: they fail
the invocation as before.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pg8000.exceptions
import pg8000.native
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pg8000.native import identifier

from common.observability import get_logger
from common.warehouse_tables import TABLES, Kind, WarehouseTable
from lake.commit_record import CommitRecord
from lake.errors import CommitRecordError
from load import upsert
from load.errors import is_data_exception, refusal_reason
from load.staging import DEFAULT_BATCH_ROWS, open_parquet, stage_parquet

logger = get_logger("load")

_SAVEPOINT = "load_refused_rows"


@dataclass
class Refusal:
    """One row the warehouse refused, as quarantined."""

    table: str
    key: str | None
    reason: str


@dataclass
class IsolatedLoad:
    """What loading a run row-group by row-group did (the same counts ``run._apply`` keeps)."""

    staged: dict[str, int] = field(default_factory=dict)
    loaded: dict[str, int] = field(default_factory=dict)
    inferred: list[upsert.InferredMember] = field(default_factory=list)
    nulls_quarantined: int = 0
    refused: list[Refusal] = field(default_factory=list)
    dates_generated: int = 0
    max_source_last_updated: dt.datetime | None = None

    @property
    def rows_quarantined(self) -> int:
        return self.nulls_quarantined + len(self.refused)


def load_isolating_refused_rows(
    con: pg8000.native.Connection,
    record: CommitRecord,
    files: dict[str, Path],
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> IsolatedLoad:
    """Load ``record``'s run table by table, quarantining the rows the warehouse refuses.

    Must run inside the run's (fresh) transaction; the caller writes the ledger row and
    commits. Raises what the normal path raises for anything but a data exception.
    """
    out = IsolatedLoad()
    for obj in record.objects:  # LOAD_ORDER: dimensions first
        table = TABLES[obj.table]
        with files[obj.table].open("rb") as f:
            rows = open_parquet(table, f).read()
        if rows.num_rows != obj.rows:
            raise CommitRecordError(f"{obj.key} holds {rows.num_rows} rows; the commit record says {obj.rows}")
        out.staged[table.name] = 0
        out.loaded[table.name] = 0
        refused_before = len(out.refused)
        for row, reason in _refused_rows(con, table, rows, record.run_seq, out, batch_rows):
            out.refused.append(_quarantine_row(con, table, row, reason, record.run_seq))
        refused = out.refused[refused_before:]
        if refused:
            logger.error(
                "the warehouse refused rows; quarantined, the rest of the run is loaded",
                extra={
                    "table": table.name,
                    "rows": len(refused),
                    "keys": [r.key for r in refused[:20]],
                    "reasons": sorted({r.reason for r in refused}),
                },
            )
    return out


def _refused_rows(
    con: pg8000.native.Connection,
    table: WarehouseTable,
    rows: pa.Table,
    run_seq: int,
    out: IsolatedLoad,
    batch_rows: int,
) -> Iterator[tuple[pa.Table, str]]:
    """Apply ``rows`` in savepoints, halving what is refused; yield the single rows refused, with why."""
    stack: list[pa.Table] = [rows]
    while stack:
        part = stack.pop()
        if part.num_rows == 0:
            continue
        con.run("SAVEPOINT " + _SAVEPOINT)
        try:
            _apply_rows(con, table, part, run_seq, out, batch_rows)
        except pg8000.exceptions.DatabaseError as exc:
            if not is_data_exception(exc):
                raise
            con.run("ROLLBACK TO SAVEPOINT " + _SAVEPOINT)
            con.run("RELEASE SAVEPOINT " + _SAVEPOINT)
            if part.num_rows == 1:
                yield part, refusal_reason(exc)
                continue
            half = part.num_rows // 2
            stack += [part.slice(half), part.slice(0, half)]  # popped first half first: file order
            continue
        con.run("RELEASE SAVEPOINT " + _SAVEPOINT)


def _apply_rows(
    con: pg8000.native.Connection,
    table: WarehouseTable,
    rows: pa.Table,
    run_seq: int,
    out: IsolatedLoad,
    batch_rows: int,
) -> None:
    """The staging path for ``rows`` of one table: stage, quarantine NULLs, upsert or append.

    Counts go into ``out`` only once the savepoint is released, so a refused attempt
    counts nothing (the caller's savepoint undoes its rows)."""
    buffer = io.BytesIO()
    pq.write_table(rows, buffer)
    buffer.seek(0)
    staged = stage_parquet(con, table, buffer, batch_rows)
    rows_staged = staged.rows
    dates, loaded = 0, 0
    members: list[upsert.InferredMember] = []
    if table.kind is Kind.FACT:
        dates = upsert.ensure_dates(con, staged.dates())  # type: ignore[arg-type]
        members = upsert.infer_for_staged(con, staged, run_seq)  # before the NULL rows go, as the normal path
        nulls = upsert.quarantine_nulls(con, staged, run_seq)
        # Bulk mode for a big part, as the normal path: its dropped keys come back with the savepoint.
        loaded = upsert.append_facts(con, staged, bulk=upsert.use_bulk_mode(con, staged))
    else:
        nulls = upsert.quarantine_nulls(con, staged, run_seq)
        loaded, _completed = upsert.upsert_dimension(con, staged, run_seq)
    # The next part of this table stages into a table of the same name.
    con.run(f"DROP TABLE {identifier(staged.staging)}")
    out.staged[table.name] += rows_staged
    out.loaded[table.name] += loaded
    out.nulls_quarantined += nulls
    out.dates_generated += dates
    out.inferred += members
    newest = staged.max_last_updated
    if newest is not None and (out.max_source_last_updated is None or newest > out.max_source_last_updated):
        out.max_source_last_updated = newest


def _quarantine_row(
    con: pg8000.native.Connection, table: WarehouseTable, row: pa.Table, reason: str, run_seq: int
) -> Refusal:
    data = row_as_json(row)
    key = data.get(table.key)
    con.run(
        "INSERT INTO pipeline.load_quarantine (run_seq, table_name, reason, row_data)"
        " VALUES (:seq, :table, :reason, CAST(:row AS jsonb))",
        seq=run_seq,
        table=table.name,
        reason=f"refused by the warehouse: {reason}",
        row=json.dumps(data, sort_keys=True),
    )
    return Refusal(table.name, None if key is None else f"{table.key}={key}", reason)


def row_as_json(row: pa.Table) -> dict[str, Any]:
    """A one-row table as a JSON-able dict that jsonb accepts whatever the values are.

    Values are rendered as text by Arrow (Python's date cannot hold year 0, for one),
    and a NUL character, which jsonb refuses, is written as the six characters ``\\u0000``.
    """
    out: dict[str, Any] = {}
    for name in row.column_names:
        column = row.column(name)
        if pa.types.is_integer(column.type) or pa.types.is_boolean(column.type):
            out[name] = column[0].as_py()
            continue
        text = pc.cast(column, pa.string())[0].as_py()
        out[name] = None if text is None else text.replace("\x00", "\\u0000")
    return out
