"""Reading changed rows of one source table into a JSON-lines spool.

All SQL here is built from the allow-list (``common.source_tables``) with
``pg8000.native.identifier``; the window bounds are values and are always bound.
COPY cannot take bind parameters, so the bounds are bound into transaction-local
settings (``set_config(..., true)``) and the query reads them back with
``current_setting`` — the value never becomes SQL text.

Every segment of the window (``ingestion.watermarks.Segment``) is read the same way:
``COPY (SELECT <contract columns> ... ORDER BY last_updated, id) TO STDOUT (FORMAT csv)``.
The server sends the raw values, which costs it about what a plain COPY of the table
costs, and ``ingestion.render`` turns them into JSON lines on the client, vectorised,
on the spool's worker thread: the one rendering rule for every row. The segments that
need a look at each row (the look-back part: dedup; the most recent part: recent keys)
get a row filter that runs on the rendered block; the bulk segment has none.

A first snapshot is read in key ranges (``ingestion.key_ranges``): the same segments,
each also bounded to ``[from_id, to_id)`` of the primary key and ordered by it (the
primary key's index gives that order without a sort; ``last_updated``'s would need one).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
from pg8000.native import identifier

from common.source_tables import SourceTable
from ingestion.errors import SchemaMismatchError
from ingestion.key_ranges import KeyRange
from ingestion.watermarks import Segment, SegmentKind, Window

if TYPE_CHECKING:
    import pg8000.native

    from ingestion.recent_keys import Key
    from ingestion.render import RenderedBlock
    from ingestion.spool import JsonlSpool

LOWER_SETTING = "totes.window_lower"
UPPER_SETTING = "totes.window_upper"
FROM_ID_SETTING = "totes.range_from"
TO_ID_SETTING = "totes.range_to"
# The renderer parses timestamps as PostgreSQL's ISO output ("2024-01-02 03:04:05.12"),
# so the transaction pins it whatever the server's or role's default DateStyle is.
DATESTYLE = "ISO, MDY"
# Rows per block in the segments filtered row by row (they are small in steady state;
# a block is also cut at the spool's byte size). A module constant, so it can be lowered
# to cut a window into many blocks.
FILTERED_BLOCK_ROWS = 5000
_NEG_INFINITY = "-infinity"
_LOWER = f"current_setting('{LOWER_SETTING}')::timestamp"
_UPPER = f"current_setting('{UPPER_SETTING}')::timestamp"
_FROM_ID = f"current_setting('{FROM_ID_SETTING}')::bigint"
_TO_ID = f"current_setting('{TO_ID_SETTING}')::bigint"
# A key range's open end, bound as a value like the others (serial keys are int4).
_NO_KEY_BOUND = 2**63 - 1


def build_select(table: SourceTable, *, keyed: bool = False) -> str:
    """The window query of ``table``: ``[lower, upper)`` on ``last_updated``, ordered by (last_updated, id).

    Selects the contract columns, in contract order, as they are: ``ingestion.render``
    formats them. The bounds come from the transaction-local settings set by
    ``bind_window``. The order comes cheaply from the ``last_updated`` index
    (incremental sort on the id). ``keyed``: also ``[from_id, to_id)`` on the primary key,
    ordered by it (a snapshot's key range).
    """
    t, pk = identifier(table.name), identifier(table.primary_key)
    cols = ", ".join(f"s.{identifier(c)}" for c in table.column_names)
    # Only allow-listed identifiers (quoted by identifier()) and constants are formatted in; no values.
    select = f"SELECT {cols} FROM {t} AS s"  # noqa: S608  # nosec B608
    where = f" WHERE s.last_updated >= {_LOWER} AND s.last_updated < {_UPPER}"
    if keyed:
        return f"{select}{where} AND s.{pk} >= {_FROM_ID} AND s.{pk} < {_TO_ID} ORDER BY s.{pk}"
    return f"{select}{where} ORDER BY s.last_updated, s.{pk}"


def build_copy(table: SourceTable, *, keyed: bool = False) -> str:
    """``build_select`` wrapped in COPY: one CSV row per source row (NULL an unquoted empty field)."""
    return f"COPY ({build_select(table, keyed=keyed)}) TO STDOUT (FORMAT csv)"


def bind_window(con: pg8000.native.Connection, segment: Segment, key_range: KeyRange | None = None) -> None:
    """Bind a segment's bounds, a key range's and the DateStyle as transaction-local settings
    (values, never SQL text)."""
    to_id = key_range.to_id if key_range is not None and key_range.to_id is not None else _NO_KEY_BOUND
    con.run(
        "SELECT set_config(:lower_name, :lower, true), set_config(:upper_name, :upper, true),"
        " set_config(:from_name, :from_id, true), set_config(:to_name, :to_id, true),"
        " set_config('DateStyle', :datestyle, true)",
        lower_name=LOWER_SETTING,
        lower=segment.lower or _NEG_INFINITY,
        upper_name=UPPER_SETTING,
        upper=segment.upper,
        from_name=FROM_ID_SETTING,
        from_id=str(key_range.from_id if key_range is not None else -_NO_KEY_BOUND),
        to_name=TO_ID_SETTING,
        to_id=str(to_id),
        datestyle=DATESTYLE,
    )


def check_source_columns(con: pg8000.native.Connection, tables: Iterable[SourceTable]) -> dict[str, list[str]]:
    """Compare live columns with the contract.

    Returns
    -------
    dict
        Extra live columns per table (not ingested; the caller logs a warning).

    Raises
    ------
    SchemaMismatchError
        A contract column (or a whole table) is missing.
    """
    tables = tuple(tables)
    rows = con.run(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = ANY(:names)",
        names=[t.name for t in tables],
    )
    live: dict[str, set[str]] = {}
    for table_name, column_name in rows:
        live.setdefault(table_name, set()).add(column_name)
    extra: dict[str, list[str]] = {}
    missing: list[str] = []
    for table in tables:
        columns = live.get(table.name, set())
        missing += [f"{table.name}.{c}" for c in table.column_names if c not in columns]
        surplus = sorted(columns - set(table.column_names))
        if surplus:
            extra[table.name] = surplus
    if missing:
        # information_schema shows only what the role may read, so a missing GRANT looks the same.
        raise SchemaMismatchError(f"source lacks (or does not grant) contract columns: {', '.join(missing)}")
    return extra


@dataclass
class SeenAndRecent:
    """The row filter of a segment read row by row (runs on the spool's worker thread).

    Drops look-back rows whose ``(id, last_updated)`` the previous run emitted (in
    ``seen``), and records the keys of emitted rows at or after ``window.recent_from``
    in ``recent``. Only these segments pay for per-row Python; they hold the rows
    changed within the look-back, not the table.
    """

    window: Window
    seen: set[Key]
    recent: set[Key]
    dropped: int = field(default=0)

    def __call__(self, block: RenderedBlock) -> pa.Array | None:
        ids = pc.cast(block.ids, pa.int64()).to_pylist()
        stamps = block.last_updated.to_pylist()
        keep: list[bool] = []
        for key in zip(ids, stamps, strict=True):
            if self.window.needs_dedup(key[1]) and key in self.seen:
                keep.append(False)
                continue
            keep.append(True)
            if key[1] >= self.window.recent_from:
                self.recent.add(key)
        dropped = keep.count(False)
        self.dropped += dropped
        return pa.array(keep, pa.bool_()) if dropped else None


def extract_table(
    con: pg8000.native.Connection,
    table: SourceTable,
    window: Window,
    seen: set[Key],
    spool: JsonlSpool,
    recent: set[Key],
    key_range: KeyRange | None = None,
) -> int:
    """Write ``table``'s rows in ``window`` to ``spool``, in (last_updated, id) order
    (``key_range``: only that range of primary keys, in key order per segment).

    Must run inside the run's REPEATABLE READ transaction (the settings are
    transaction-scoped, and every table must see the same snapshot). Returns once the
    spool has filtered every row, so the count and ``recent`` are complete.

    Parameters
    ----------
    seen
        The previous run's recent keys of this table: a look-back row with one of
        these keys was emitted before and is dropped.
    recent
        Filled with the keys of emitted rows at or after ``window.recent_from``.

    Returns
    -------
    int
        Rows dropped as already emitted.
    """
    per_row = SeenAndRecent(window, seen, recent)
    copy = build_copy(table, keyed=key_range is not None)
    for segment in window.segments():
        bind_window(con, segment, key_range)
        if segment.kind is SegmentKind.COPY:
            spool.begin()
        else:
            spool.begin(per_row, max_rows=FILTERED_BLOCK_ROWS)
        con.run(copy, stream=spool)
    spool.drain()
    return per_row.dropped
