"""The source side of a comparison: each row's key, ``last_updated`` and a content hash, by id range.

The hash is computed by PostgreSQL: ``hash_record_extended`` of the row of contract
columns (PostgreSQL 14+: every column hashed with its type's own hash function, no text
rendering; 64 bits), or, on an older server, the first 64 bits of the ``md5`` of the row
as text. The client receives ONE value per id range: ``string_agg`` of 20 bytes per row
(``int4send(id) || timestamp_send(last_updated) || int8send(hash)``), decoded with numpy,
so neither side spends per-row work on text or on protocol messages; it travels as
``COPY ... TO STDOUT (FORMAT binary)`` (raw bytes: no hex text to encode on the server
and decode on the client; COPY takes no bound values, so the range's bounds travel as
transaction-local settings, as the ids of ``extract_ids`` do). Ranges of ids keep
both sides' memory bounded whatever the table's size. ``last_updated`` becomes epoch
milliseconds (the lake's precision), so both sides compare integers.

Identifiers come from the allow-list (``common.source_tables``) through ``identifier()``;
the bounds and the id lists are bound as values.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
from pg8000.native import identifier

from common.source_tables import SourceTable

if TYPE_CHECKING:
    import pg8000.native

    from ingestion.spool import JsonlSpool

IDS_SETTING = "totes.compare_ids"
LOWER_SETTING, UPPER_SETTING = "totes.compare_lower", "totes.compare_upper"
# Ids per range: 5 MB from the server and a few MB of Arrow per side at most.
RANGE_IDS = 1 << 16
SCHEMA = pa.schema([("id", pa.int64()), ("lu", pa.int64()), ("hash", pa.int64())])
_ROW = np.dtype([("id", ">i4"), ("lu", ">i8"), ("hash", ">i8")])
_COPY_HEADER = 19  # binary COPY: signature (11), flags (4), header extension length (4; 0)
_PG_EPOCH_MS = 946_684_800_000  # 2000-01-01 (timestamp_send's zero) in Unix milliseconds


def content_hash_sql(table: SourceTable, hash_record: bool = True, alias: str = "s") -> str:
    """A 64-bit hash of the row of ``table``'s contract columns, computed by PostgreSQL."""
    row = "ROW(" + ", ".join(f"{alias}.{identifier(c)}" for c in table.column_names) + ")"
    if hash_record:
        return f"hash_record_extended({row}, 0)"
    return f"('x' || substr(md5(CAST({row} AS text)), 1, 16))::bit(64)::bigint"


def has_hash_record(con: pg8000.native.Connection) -> bool:
    """Whether the server has ``hash_record_extended`` (PostgreSQL 14 and later)."""
    return bool(con.run("SELECT to_regprocedure('hash_record_extended(record, bigint)') IS NOT NULL")[0][0])


def _range_select(table: SourceTable, hash_record: bool) -> str:
    t, pk = identifier(table.name), identifier(table.primary_key)
    packed = f"int4send(s.{pk}) || timestamp_send(s.last_updated) || int8send({content_hash_sql(table, hash_record)})"
    # Only allow-listed identifiers (quoted by identifier()) and constants are formatted in; no values.
    return (
        f"SELECT string_agg({packed}, ''::bytea) FROM {t} AS s "  # noqa: S608  # nosec B608
        f"WHERE s.{pk} >= current_setting('{LOWER_SETTING}')::bigint "
        f"AND s.{pk} < current_setting('{UPPER_SETTING}')::bigint"
    )


def id_bounds(con: pg8000.native.Connection, table: SourceTable) -> tuple[int, int] | None:
    """The smallest and largest id of ``table`` (None when it is empty)."""
    pk = identifier(table.primary_key)
    low, high = con.run(f"SELECT min({pk}), max({pk}) FROM {identifier(table.name)}")[0]  # noqa: S608  # nosec B608
    return None if low is None else (int(low), int(high))


def ranges(bounds: tuple[int, int] | None, lake_bounds: tuple[int, int] | None) -> list[tuple[int, int]]:
    """``[lower, upper)`` id ranges covering both sides (a row only the lake knows is a deletion)."""
    known = [b for b in (bounds, lake_bounds) if b is not None]
    if not known:
        return []
    low, high = min(b[0] for b in known), max(b[1] for b in known) + 1
    start = low - low % RANGE_IDS
    return [(lo, min(lo + RANGE_IDS, high)) for lo in range(start, high, RANGE_IDS)]


def read_range(
    con: pg8000.native.Connection, table: SourceTable, lower: int, upper: int, hash_record: bool = True
) -> pa.Table:
    """(id, lu in epoch ms, hash) of every row with ``lower <= id < upper`` (in no particular order)."""
    con.run(
        "SELECT set_config(:lower_name, :lower, true), set_config(:upper_name, :upper, true)",
        lower_name=LOWER_SETTING, lower=str(int(lower)), upper_name=UPPER_SETTING, upper=str(int(upper)),
    )  # fmt: skip
    body = io.BytesIO()
    con.run(f"COPY ({_range_select(table, hash_record)}) TO STDOUT (FORMAT binary)", stream=body)
    # One row of one field: the header, the field count (int16), the field's length (int32, -1: NULL).
    length = int.from_bytes(body.getbuffer()[_COPY_HEADER + 2 : _COPY_HEADER + 6], "big", signed=True)
    if length <= 0:  # no rows: string_agg is NULL
        return SCHEMA.empty_table()
    rows = np.frombuffer(body.getbuffer(), dtype=_ROW, count=length // _ROW.itemsize, offset=_COPY_HEADER + 6)
    return pa.table(
        {
            "id": rows["id"].astype(np.int64),
            "lu": rows["lu"].astype(np.int64) // 1000 + _PG_EPOCH_MS,
            "hash": rows["hash"].astype(np.int64),
        },
        schema=SCHEMA,
    )


def read_ranges(
    con: pg8000.native.Connection, table: SourceTable, bounds: Sequence[tuple[int, int]], hash_record: bool = True
) -> Iterator[tuple[tuple[int, int], pa.Table]]:
    """``read_range`` of each of ``bounds`` in order, the next one read while the caller works on this one.

    The database hashes range i+1 while the client diffs range i (about equal shares of
    the CPU), so on two cores the two overlap instead of taking turns. One query at a
    time on ``con`` (the worker is its only user until this generator ends) and at most
    two ranges in memory. A query's error is raised where its range is yielded; when the
    caller stops early, the query in flight is waited for, so the connection is free.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"compare-{table.name}") as reader:
        pending: tuple[tuple[int, int], Future[pa.Table]] | None = None
        for lower, upper in bounds:
            ahead = reader.submit(read_range, con, table, lower, upper, hash_record)
            if pending is not None:
                yield pending[0], pending[1].result()
            pending = (lower, upper), ahead
        if pending is not None:
            yield pending[0], pending[1].result()


def extract_ids(con: pg8000.native.Connection, table: SourceTable, ids: Iterable[int], spool: JsonlSpool) -> None:
    """Stream the current rows of ``ids`` through ``spool`` (the lake's one rendering), in (last_updated, id) order.

    The ids are joined as a set (``unnest`` is evaluated once), not tested with ``= ANY(...)``:
    the array comes from a setting, not a constant, so a sequential scan re-parsed it for
    every row, quadratic in the first comparison of a table, which renders all its rows.
    """
    t, pk = identifier(table.name), identifier(table.primary_key)
    cols = ", ".join(f"s.{identifier(c)}" for c in table.column_names)
    con.run(
        "SELECT set_config(:n, :ids, true), set_config('DateStyle', 'ISO, MDY', true)",
        n=IDS_SETTING,
        ids="{" + ",".join(str(int(i)) for i in ids) + "}",
    )
    select = (
        f"SELECT {cols} FROM {t} AS s "  # noqa: S608  # nosec B608
        f"JOIN unnest(current_setting('{IDS_SETTING}')::bigint[]) AS k (id) ON s.{pk} = k.id "
        f"ORDER BY s.last_updated, s.{pk}"
    )
    con.run(f"COPY ({select}) TO STDOUT (FORMAT csv)", stream=spool)
    spool.drain()
