"""The dimension plan: one run's dimension-source rows applied to the state, derived from ``FEEDS``.

``transform.dimensions.FEEDS`` is the one declarative table of which source tables
feed which dimension (and which parent each joins). Everything here is derived from it: the
source tables whose state transform keeps as snapshots (``SNAPSHOT_TABLES``), which
of them are parents that others join (applied first, so every join and foreign-key
check sees this run's rows), which keep their raw lines (rows that may still be
rejected after reading need them for the quarantine record), and which dimension
rows a parent's change re-emits (a department rename re-emits all its staff).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
import pyarrow.compute as pc

from common.source_tables import SOURCE_TABLES
from transform import dimensions as dims
from transform.dimensions import FEEDS, Feed
from transform.reader import ObjectRows
from transform.rejects import QuarantineLog, bad_rows_from, split_rejected
from transform.run_reader import RunReader
from transform.schemas import LINE_NO
from transform.snapshot import State, apply_changes

# Joined by another source: their changes are applied before any child's.
PARENTS: tuple[str, ...] = tuple(dict.fromkeys(f.parent for f in FEEDS if f.parent))
# Every dimension source, parents first: the tables transform keeps snapshots of.
SNAPSHOT_TABLES: tuple[str, ...] = tuple(dict.fromkeys([*PARENTS, *(f.source for f in FEEDS)]))
# Sources whose rows may be rejected after reading: their quarantine records need the raw lines.
KEEP_RAW: frozenset[str] = frozenset(f.source for f in FEEDS if f.parent or f.rejects)
# The dimension-source objects of a run are fetched this many at a time (small
# objects: the time is S3 round trips).
READ_WORKERS = 4


class DimensionPlan:
    """Applies one run's dimension-source rows to the state and builds every dimension but dim_date."""

    def __init__(self, reader: RunReader, state: State, quarantine: QuarantineLog) -> None:
        self.reader, self.state, self.quarantine, self.seq = reader, state, quarantine, reader.seq
        self.changed: set[str] = set()  # snapshot tables this run changed (they get a new snapshot)
        self.changed_ids: dict[str, pa.Array] = {}

    def apply(self) -> dict[str, pa.Table]:
        """Read every dimension source, apply the changes parents first; return the dimension tables."""
        # Independent objects, each mostly waiting on S3 or in Arrow: fetch them together.
        with ThreadPoolExecutor(max_workers=READ_WORKERS, thread_name_prefix="dim-read") as pool:
            read = dict(zip(SNAPSHOT_TABLES, pool.map(self._read, SNAPSHOT_TABLES), strict=True))
        for parent in PARENTS:
            self.changed_ids[parent] = self._upsert(parent, read[parent][0])
        return {feed.dimension: self._feed(feed, *read[feed.source]) for feed in FEEDS}

    def _read(self, table: str) -> tuple[pa.Table, ObjectRows | None]:
        return self.reader.read_latest(table, keep_raw=table in KEEP_RAW)

    def _feed(self, feed: Feed, latest: pa.Table, raw: ObjectRows | None) -> pa.Table:
        if feed.parent is not None:
            return self._joined(feed, latest, raw)
        if feed.rejects is not None:
            dim, refused = feed.build(latest)
            self._upsert(feed.source, self._reject(feed.source, latest, refused, feed.rejects, raw))
            return dim  # type: ignore[no-any-return]
        if feed.source not in PARENTS:
            self._upsert(feed.source, latest)
        return feed.build(latest)  # type: ignore[no-any-return]

    def _joined(self, feed: Feed, latest: pa.Table, raw: ObjectRows | None) -> pa.Table:
        """A child that joins its parent: unknown parents are quarantined; a parent change re-emits its children."""
        parent, fk = str(feed.parent), str(feed.foreign_key)
        pk = SOURCE_TABLES[feed.source].primary_key
        parent_state = self.state.tables[parent]
        parent_ids = parent_state.column(SOURCE_TABLES[parent].primary_key)
        unmatched = pc.invert(pc.is_in(latest.column(fk), value_set=parent_ids))
        bad_ids = latest.column(pk).filter(unmatched).combine_chunks()
        good = self._reject(feed.source, latest, bad_ids, f"foreign key matches nothing: {fk} -> {parent}", raw)
        changed = self._upsert(feed.source, good)
        emit = dims.affected(self.state.tables[feed.source], changed, pk, fk, self.changed_ids[parent])
        dim, _ = feed.build(emit, parent_state)
        return dim  # type: ignore[no-any-return]

    def _upsert(self, table: str, changes: pa.Table) -> pa.Array:
        """Apply this run's surviving changes of ``table`` to its state; return the changed ids."""
        pk = SOURCE_TABLES[table].primary_key
        if changes.num_rows:
            self.state.tables[table] = apply_changes(self.state.tables[table], changes, pk)
            self.changed.add(table)
        return changes.column(pk).combine_chunks()

    def _reject(self, table: str, rows: pa.Table, ids: pa.Array, reason: str, raw: ObjectRows | None) -> pa.Table:
        """Remove the rows whose primary key is in ``ids`` and quarantine them; return the rest."""
        if len(ids) == 0:
            return rows
        pk = SOURCE_TABLES[table].primary_key
        mask = pc.is_in(rows.column(pk), value_set=ids)
        good, bad_index, reasons = split_rejected(rows, [(mask, reason)])
        key = self.reader.manifest.tables[table].key if table in self.reader.manifest.tables else None
        self.quarantine.add(
            bad_rows_from(
                rows,
                bad_index,
                reasons,
                table=table,
                run_seq=self.seq,
                source_key=key,
                primary_key=pk,
                line_no_column=LINE_NO,
                raw_line=raw.raw_line if raw is not None else (lambda _n: None),
            )
        )
        return good
