"""The source side of a comparison: each row's key, ``last_updated`` and a content hash, by id range.

The hash is computed by PostgreSQL (``md5`` of the row of contract columns as text, with
the DateStyle pinned), so the client receives three short fields per row and never the
values. Ranges of ids keep the client's memory bounded whatever the table's size: each
range is one ``COPY (SELECT ... WHERE id in [lower, upper) ORDER BY id) TO STDOUT`` on
the primary key's index, parsed by Arrow. ``last_updated`` travels as epoch milliseconds
(an integer), the lake's precision, so both sides compare as integers.

Identifiers come from the allow-list (``common.source_tables``) through ``identifier()``;
the bounds and the id lists are bound as transaction-local settings, as in ``extract``.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.csv as pa_csv
from pg8000.native import identifier

from common.source_tables import SourceTable

if TYPE_CHECKING:
    import pg8000.native

    from ingestion.spool import JsonlSpool

LOWER_SETTING = "totes.compare_lower"
UPPER_SETTING = "totes.compare_upper"
IDS_SETTING = "totes.compare_ids"
# Ids per range: ~15 MB of CSV and of Arrow per side at most.
RANGE_IDS = 1 << 18
SCHEMA = pa.schema([("id", pa.int64()), ("lu", pa.int64()), ("hash", pa.string())])


def content_hash_sql(table: SourceTable, alias: str = "s") -> str:
    """``md5`` of the row of ``table``'s contract columns, as PostgreSQL renders it (text)."""
    cols = ", ".join(f"{alias}.{identifier(c)}" for c in table.column_names)
    return f"md5(CAST(ROW({cols}) AS text))"


def _range_copy(table: SourceTable) -> str:
    t, pk = identifier(table.name), identifier(table.primary_key)
    lower, upper = f"current_setting('{LOWER_SETTING}')::bigint", f"current_setting('{UPPER_SETTING}')::bigint"
    # Only allow-listed identifiers (quoted by identifier()) and constants are formatted in; no values.
    select = (
        f"SELECT s.{pk}, (extract(epoch FROM s.last_updated) * 1000)::bigint, {content_hash_sql(table)} "  # noqa: S608  # nosec B608
        f"FROM {t} AS s WHERE s.{pk} >= {lower} AND s.{pk} < {upper} ORDER BY s.{pk}"
    )
    return f"COPY ({select}) TO STDOUT (FORMAT csv)"


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


def read_range(con: pg8000.native.Connection, table: SourceTable, lower: int, upper: int) -> pa.Table:
    """(id, lu, hash) of every row with ``lower <= id < upper``, ordered by id."""
    con.run(
        "SELECT set_config(:ln, :lo, true), set_config(:un, :up, true), set_config('DateStyle', 'ISO, MDY', true)",
        ln=LOWER_SETTING,
        lo=str(lower),
        un=UPPER_SETTING,
        up=str(upper),
    )
    out = io.BytesIO()
    con.run(_range_copy(table), stream=out)
    if not out.tell():
        return SCHEMA.empty_table()
    out.seek(0)
    return pa_csv.read_csv(
        out,
        read_options=pa_csv.ReadOptions(column_names=["id", "lu", "hash"]),
        convert_options=pa_csv.ConvertOptions(column_types=SCHEMA),
    )


def extract_ids(con: pg8000.native.Connection, table: SourceTable, ids: list[int], spool: JsonlSpool) -> None:
    """Stream the current rows of ``ids`` through ``spool`` (the lake's one rendering), in (last_updated, id) order."""
    t, pk = identifier(table.name), identifier(table.primary_key)
    cols = ", ".join(f"s.{identifier(c)}" for c in table.column_names)
    con.run(
        "SELECT set_config(:n, :ids, true), set_config('DateStyle', 'ISO, MDY', true)",
        n=IDS_SETTING,
        ids="{" + ",".join(str(int(i)) for i in ids) + "}",
    )
    select = (
        f"SELECT {cols} FROM {t} AS s "  # noqa: S608  # nosec B608
        f"WHERE s.{pk} = ANY(current_setting('{IDS_SETTING}')::bigint[]) ORDER BY s.last_updated, s.{pk}"
    )
    con.run(f"COPY ({select}) TO STDOUT (FORMAT csv)", stream=spool)
    spool.drain()
