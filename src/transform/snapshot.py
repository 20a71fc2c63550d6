"""Transform's memory between runs: the compacted current state of each dimension-source table.

A dimension row may depend on two source tables (dim_staff on staff and department,
dim_counterparty on counterparty and address), and a run usually carries only one
side's change. So transform keeps, per source table, the latest valid version of
every row as one Parquet object ``snapshot/<table>/<seq:010d>-<attempt>.parquet``.
Snapshots are immutable and versioned per run: run N writes a new snapshot only for
tables that changed, and its commit record names the snapshot in effect for every
table, so run N+1 starts from exactly what commit N saw (never from Lambda memory,
never from a half-written attempt).

Which version is "current": within one run, the greatest ``last_updated`` (ties:
the later line); across runs, the later run. The later run wins even against a
greater ``last_updated`` because a run observes a committed source state: a row
seen later was committed later, whatever clock its ``last_updated`` came from.
"""

from __future__ import annotations

import io
import tempfile
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from common.s3_store import LakeStore, ObjectMissingError
from common.source_tables import SOURCE_TABLES
from transform.errors import SnapshotError
from transform.schemas import LINE_NO, source_schema

# How every Parquet object of transform is written. Ids and timestamps are nearly all
# distinct: a small dictionary page limit makes Arrow give up dictionary-encoding
# them early (the attempt is wasted CPU), while foreign keys, dates, prices and names
# keep their small dictionaries: less CPU and a smaller file (docs/benchmarks.md).
PARQUET_OPTIONS: dict[str, Any] = {"compression": "snappy", "dictionary_pagesize_limit": 64 << 10}
PARQUET_CONTENT_TYPE = "application/vnd.apache.parquet"
_MAX_CHUNKS = 32


@dataclass
class State:
    """The current state of every dimension-source table, and the snapshot key holding it."""

    tables: dict[str, pa.Table]
    keys: dict[str, str | None]

    def copy(self) -> State:
        """A copy to evolve: the tables themselves are immutable Arrow tables, shared."""
        return State(dict(self.tables), dict(self.keys))

    def ids(self) -> dict[str, pa.Array]:
        """The primary keys in each table's state (what the facts' foreign keys must match)."""
        return {t: rows.column(SOURCE_TABLES[t].primary_key).combine_chunks() for t, rows in self.tables.items()}


def empty_state(table: str) -> pa.Table:
    """The state of a table transform has never seen a row of."""
    return source_schema(SOURCE_TABLES[table]).empty_table()


def latest_per_key(rows: pa.Table, key: str) -> pa.Table:
    """One row per ``key``: the greatest ``last_updated``, ties broken by the later line.

    Parameters
    ----------
    rows : pyarrow.Table
        Validated rows of one run (with ``_line_no``).
    key : str
        The primary key column.
    """
    if rows.num_rows <= 1:
        return rows
    sort_keys = [(key, "ascending"), ("last_updated", "ascending")]
    if LINE_NO in rows.column_names:
        sort_keys.append((LINE_NO, "ascending"))
    ordered = rows.take(pc.sort_indices(rows, sort_keys=sort_keys))
    keys = ordered.column(key).combine_chunks()
    # The last row of each key's run of rows is its latest version.
    last_of_group = pa.concat_arrays([pc.not_equal(keys.slice(0, len(keys) - 1), keys.slice(1)), pa.array([True])])
    return ordered.filter(last_of_group)


def apply_changes(state: pa.Table, changes: pa.Table, key: str) -> pa.Table:
    """Upsert ``changes`` (one row per key, see ``latest_per_key``) into ``state``.

    Returns
    -------
    pyarrow.Table
        The new state, with the snapshot schema (``_line_no`` dropped), sorted by key.
    """
    schema = state.schema
    changes = changes.select(schema.names).cast(schema)
    if changes.num_rows == 0:
        return state
    changed_keys = changes.column(key).combine_chunks()
    if _ascending_unique(changed_keys) and (state.num_rows == 0 or _max(state.column(key)) < changed_keys[0].as_py()):
        # Only new rows with keys above every existing one (a first load; new transactions,
        # orders, ... get ascending ids): appending keeps key order without copying the
        # state, which for a big table is most of an incremental run's cost.
        if not state.num_rows:
            return changes
        merged = pa.concat_tables([state, changes])
        # One chunk per appended run: keep a long catch-up from fragmenting the state.
        return merged.combine_chunks() if merged.column(key).num_chunks > _MAX_CHUNKS else merged
    kept = state.filter(pc.invert(pc.is_in(state.column(key), value_set=changed_keys)))
    merged = pa.concat_tables([kept, changes])
    return merged.take(pc.sort_indices(merged.column(key)))


def _max(keys: pa.ChunkedArray) -> int:
    return int(pc.max(keys).as_py())


def _ascending_unique(keys: pa.Array) -> bool:
    """True if ``keys`` is strictly ascending (what ``latest_per_key`` returns)."""
    if len(keys) <= 1:
        return True
    return bool(pc.all(pc.less(keys.slice(0, len(keys) - 1), keys.slice(1))).as_py())


def read_snapshot(store: LakeStore, key: str, table: str) -> pa.Table:
    """Read the snapshot object ``key`` of ``table``.

    Raises
    ------
    SnapshotError
        If the object is missing or is not a snapshot of ``table``: the commit record
        that names it is the only memory transform has, so this cannot be skipped.
    """
    try:
        data = store.get_bytes(key)
        state = pq.read_table(io.BytesIO(data))
        return state.select(source_schema(SOURCE_TABLES[table]).names).cast(source_schema(SOURCE_TABLES[table]))
    except ObjectMissingError as exc:
        raise SnapshotError(f"snapshot {key} of {table} named by the last commit record is missing") from exc
    except (pa.ArrowInvalid, KeyError, ValueError) as exc:
        raise SnapshotError(f"snapshot {key} of {table} is unreadable: {exc}") from exc


def write_parquet(store: LakeStore, key: str, table: pa.Table) -> None:
    """Write ``table`` as one Parquet object at ``key`` (never overwriting)."""
    with tempfile.TemporaryFile() as tmp:
        pq.write_table(table, tmp, **PARQUET_OPTIONS)
        tmp.seek(0)
        store.put_new(key, tmp, content_type=PARQUET_CONTENT_TYPE)
