"""The periodic comparison of the source with the lake (SPEC §2, §3 "Fresh"; issue 14).

Finds what the incremental path cannot see: rows deleted from the source, and rows
changed without their ``last_updated`` moving (a foreign key's ON DELETE SET NULL, a
manual fix). Per table, id range by id range, it compares the source's (id,
``last_updated``, content hash) (``compare_source``) with what the lake says
(``compare_lake``: the last comparison's state plus what later runs carried):

* in the lake, not in the source: **deleted**;
* same ``last_updated``, different content: **changed in place**;
* a different ``last_updated``: the incremental path's business (ingested, or about
  to be): nothing, so a pending change never becomes a version twice.

What it finds becomes an ordinary ingestion run under the next sequence id: the
changed rows' current values in its data objects, and the manifest's ``changes``
naming every id and why (``lake.changes``). Its watermarks and recent keys are the
previous run's, so the incremental path is undisturbed. The new state (the source as
this snapshot saw it) goes to ``state/compare/<table>/...`` and the manifest carries it
forward. Everything is read in ONE read-only REPEATABLE READ snapshot.

Nothing is committed unless every table was compared: a table that cannot be read
(a lost grant, a timeout, a dropped connection) fails the whole comparison, so a
partial read never looks like a deletion; a crash anywhere leaves only orphans under
the attempt id. A table losing more than ``DeleteGuard`` allows in one comparison
stops the comparison (``MassDeletionHeldError``, alarmed) until an operator applies
it (``totes compare --allow-mass-delete``).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pg8000.native
import pyarrow as pa
import pyarrow.compute as pc

from common.observability import MetricUnit, get_logger
from common.s3_store import LakeStore, ObjectExistsError
from common.source_tables import SourceTable
from common.timefmt import utc_stamp
from ingestion import compare_source
from ingestion.compare_lake import Carried, CarriedObject, StateFile, carried_since, line_digest
from ingestion.errors import MassDeletionHeldError
from ingestion.snapshot import read_only_snapshot
from ingestion.spool import JsonlSpool
from ingestion.state import Previous, publish_state
from ingestion.watermarks import format_watermark, to_source_time
from lake.changes import CompareState, TableChanges
from lake.keys import compare_state_key, data_key
from lake.manifest import IngestManifest, TableEntry, write_manifest

if TYPE_CHECKING:
    from aws_lambda_powertools import Metrics

    from ingestion.render import RenderedBlock

logger = get_logger("ingestion")


@dataclass(frozen=True)
class DeleteGuard:
    """More than ``max_rows`` or ``max_share`` of a table's rows deleted in one comparison is held for review."""

    max_rows: int = 1000
    max_share: float = 0.05
    allow: bool = False  # the operator reviewed and applies it

    def check(self, table: str, deleted: int, lake_rows: int) -> None:
        if self.allow or not deleted:
            return
        if deleted > self.max_rows or deleted > self.max_share * lake_rows:
            raise MassDeletionHeldError(
                f"comparison found {deleted} of {lake_rows} {table} rows deleted, more than the guard allows "
                f"({self.max_rows} rows or {self.max_share:.0%}): nothing applied. Review the source, then "
                "apply it with `totes compare --allow-mass-delete`"
            )


@dataclass
class Findings:
    """What one table's comparison found."""

    deleted: list[int] = field(default_factory=list)
    changed: list[int] = field(default_factory=list)  # content hash differs from the last comparison's
    # Carried since the last comparison with the same last_updated: compare the rendered line
    # with the lake's (per range: sorted ids and their lines' md5). Columnar: the first
    # comparison of a table puts every row here.
    unverified: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    changed_in_place: list[int] = field(default_factory=list)  # confirmed, after rendering
    source_rows: int = 0
    lake_rows: int = 0

    def unverified_ids(self) -> np.ndarray:
        return np.concatenate([ids for ids, _ in self.unverified]) if self.unverified else np.empty(0, np.int64)

    def unverified_digests(self) -> np.ndarray:
        """(n, 16) uint8, in the order of ``unverified_ids`` (ascending: ranges and ids within them are)."""
        return np.concatenate([d for _, d in self.unverified]) if self.unverified else np.empty((0, 16), np.uint8)

    def candidates(self) -> np.ndarray:
        """Every id whose current row must be rendered: changed, or unverified (sorted, distinct)."""
        return np.union1d(np.asarray(self.changed, np.int64), self.unverified_ids())


@dataclass
class ComparisonResult:
    """What a comparison did; ``status`` is ``committed`` or ``superseded`` (another run took the seq)."""

    status: str
    run_seq: int
    attempt: str
    observed_at: str = ""
    tables: dict[str, TableChanges] = field(default_factory=dict)
    source_rows: dict[str, int] = field(default_factory=dict)
    duration_ms: int = 0

    @property
    def deleted(self) -> int:
        return sum(len(c.deleted) for c in self.tables.values())

    @property
    def changed_in_place(self) -> int:
        return sum(len(c.changed_in_place) for c in self.tables.values())

    def summary(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "run_seq": self.run_seq,
            "action": "compare",
            "observed_at": self.observed_at,
            "deleted": {t: len(c.deleted) for t, c in self.tables.items() if c.deleted},
            "changed_in_place": {t: len(c.changed_in_place) for t, c in self.tables.items() if c.changed_in_place},
            "duration_ms": self.duration_ms,
        }


def diff_range(source: pa.Table, state: pa.Table, carried: pa.Table, found: Findings) -> None:
    """Add one id range's differences to ``found`` (all three inputs hold ids of that range only).

    numpy set operations on the id columns (a range is at most ``RANGE_IDS`` rows a side):
    no hash join, so no join buffers per worker thread.
    """
    s_id, s_lu, s_hash = (source.column(c).to_numpy() for c in ("id", "lu", "hash"))
    c_id, c_lu = carried.column("id").to_numpy(), carried.column("lu").to_numpy()
    stale = ~np.isin(state.column("id").to_numpy(), c_id)  # carried since: the run's line overrides the state
    l_id = np.concatenate([state.column("id").to_numpy()[stale], c_id])
    l_lu = np.concatenate([state.column("lu").to_numpy()[stale], c_lu])
    l_hash = np.concatenate([state.column("hash").to_numpy()[stale], np.zeros(len(c_id), np.int64)])
    l_known = np.concatenate([np.ones(int(stale.sum()), bool), np.zeros(len(c_id), bool)])
    found.source_rows += len(s_id)
    found.lake_rows += len(l_id)
    present = np.isin(l_id, s_id)
    found.deleted += l_id[~present].tolist()
    order = np.argsort(s_id, kind="stable")
    at = order[np.searchsorted(s_id, l_id[present], sorter=order)]
    same = s_lu[at] == l_lu[present]
    known = l_known[present]
    found.changed += l_id[present][same & known & (s_hash[at] != l_hash[present])].tolist()
    unverified = l_id[present][same & ~known]
    if len(unverified):  # carried ids are sorted: find each one's line digest
        digests = carried.column("digest").combine_chunks()  # fixed_size_binary(16): one buffer of 16-byte values
        c_digest = np.frombuffer(digests.buffers()[1], np.uint8)[16 * digests.offset :][: 16 * len(c_id)]
        c_digest = c_digest.reshape(-1, 16)
        found.unverified.append((unverified, c_digest[np.searchsorted(c_id, unverified)]))


class _DiffersFromLake:
    """The spool's row filter: keep a rendered row the lake does not hold as it is now."""

    def __init__(self, found: Findings) -> None:
        self.changed, self.found = np.asarray(found.changed, np.int64), found
        self.ids, self.digests = found.unverified_ids(), found.unverified_digests()
        found.unverified = [(self.ids, self.digests)]  # the per-range chunks are freed

    def __call__(self, block: RenderedBlock) -> pa.Array | None:
        ids = pc.cast(block.ids, pa.int64()).to_numpy()
        differs = np.isin(ids, self.changed)
        if len(self.ids):
            at = np.minimum(np.searchsorted(self.ids, ids), len(self.ids) - 1)
            known = self.ids[at] == ids
            lines = b"".join(line_digest(line.encode()) for line in block.lines.to_pylist())
            rendered = np.frombuffer(lines, np.uint8).reshape(-1, 16)
            differs |= known & (self.digests[at] != rendered).any(axis=1)
        self.found.changed_in_place += ids[differs].tolist()
        return pa.array(differs, pa.bool_())


def _compare_table(
    con: pg8000.native.Connection, table: SourceTable, state: StateFile, carried: Carried, state_path: str
) -> Findings:
    """Every id range of ``table``: diff into Findings, the source's rows into the new state file."""
    found = Findings()
    bounds = compare_source.id_bounds(con, table)
    lake = [b for b in (state.bounds(), carried.bounds()) if b is not None]
    lake_bounds = (min(b[0] for b in lake), max(b[1] for b in lake)) if lake else None
    hash_record = compare_source.has_hash_record(con)
    ranges = compare_source.ranges(bounds, lake_bounds)
    with (
        StateFile.writer(state_path) as writer,
        closing(compare_source.read_ranges(con, table, ranges, hash_record)) as sources,
    ):
        for (lower, upper), source in sources:
            diff_range(source, state.read(lower, upper), carried.table(lower, upper), found)
            if source.num_rows:  # a row group without rows has no statistics to find it by
                writer.write_table(source)
    return found


def _emit_changed_rows(
    store: LakeStore, con: pg8000.native.Connection, table: SourceTable, found: Findings, key: str
) -> TableEntry | None:
    """Render the candidates' current rows; the ones that differ from the lake become the run's data object."""
    candidates = found.candidates()
    if not len(candidates):
        return None
    with JsonlSpool(table) as spool:
        spool.begin(_DiffersFromLake(found))
        compare_source.extract_ids(con, table, candidates, spool)
        digest = spool.finish()
        if not spool.rows:
            return None
        spool.upload(store, key)
        return TableEntry(key, spool.rows, None, None, digest)


@dataclass
class _Run:
    """One comparison's identity and what it has produced so far."""

    previous: Previous
    result: ComparisonResult
    started_at: datetime
    entries: dict[str, TableEntry] = field(default_factory=dict)
    states: dict[str, str] = field(default_factory=dict)


def _compare_all(
    store: LakeStore, con: pg8000.native.Connection, tables: Sequence[SourceTable], run: _Run, guard: DeleteGuard
) -> None:
    """Compare every table in one snapshot; fill ``run`` (nothing is committed here)."""
    carried = carried_since(store, run.previous.compare_state, run.previous.run_seq, list(tables))
    with read_only_snapshot(con, f"comparison {run.result.run_seq} could not read the source"):
        observed = con.run("SELECT CAST(now() AT TIME ZONE 'UTC' AS timestamp(3))")[0][0]
        run.result.observed_at = format_watermark(observed)
        for table in tables:
            _compare_one(store, con, table, run, guard, carried[table.name])


def _compare_one(
    store: LakeStore,
    con: pg8000.native.Connection,
    table: SourceTable,
    run: _Run,
    guard: DeleteGuard,
    since: list[CarriedObject],
) -> None:
    t0, seq, attempt = time.perf_counter(), run.result.run_seq, run.result.attempt
    previous_state = run.previous.compare_state.tables.get(table.name) if run.previous.compare_state else None
    state = StateFile(store, previous_state)
    try:
        with tempfile.NamedTemporaryFile(suffix=".parquet") as new_state:
            # Carried (every lake line of the table, on its first comparison) is freed before the rendering.
            carried = Carried.read(store, since, table.primary_key)
            found = _compare_table(con, table, state, carried, new_state.name)
            del carried
            guard.check(table.name, len(found.deleted), found.lake_rows)
            key = data_key(table.name, seq, attempt, run.started_at)
            entry = _emit_changed_rows(store, con, table, found, key)
            run.states[table.name] = compare_state_key(table.name, seq, attempt)
            with open(new_state.name, "rb") as body:
                store.put_new(run.states[table.name], body, content_type="application/vnd.apache.parquet")
    finally:
        state.close()
    if entry is not None:
        run.entries[table.name] = entry
    found_changes = TableChanges(
        run.result.observed_at, tuple(sorted(found.deleted)), tuple(sorted(found.changed_in_place))
    )
    run.result.tables[table.name], run.result.source_rows[table.name] = found_changes, found.source_rows
    logger.info(
        "table compared",
        extra={"table": table.name, "source_rows": found.source_rows, "lake_rows": found.lake_rows,
               "deleted": len(found.deleted), "changed_in_place": len(found.changed_in_place),
               "rendered": len(found.candidates()),
               "duration_ms": round((time.perf_counter() - t0) * 1000)},
    )  # fmt: skip


def _commit(store: LakeStore, run: _Run, clock: Callable[[], datetime]) -> IngestManifest:
    """The manifest LAST: the previous watermarks and recent keys, the findings, the new comparison state."""
    previous, result = run.previous, run.result
    states = {**(previous.compare_state.tables if previous.compare_state else {}), **run.states}
    manifest = IngestManifest(
        run_seq=result.run_seq, attempt=result.attempt, started_at=utc_stamp(run.started_at),
        committed_at=utc_stamp(clock()), previous_run_seq=previous.run_seq, tables=run.entries,
        watermarks=dict(previous.watermarks), recent_keys=previous.recent_keys,
        changes={t: c for t, c in result.tables.items() if c.found}, compare_state=CompareState(result.run_seq, states),
        snapshot_cursors=previous.snapshot_cursors,
    )  # fmt: skip
    try:
        write_manifest(store, manifest)
    except ObjectExistsError:
        result.status = "superseded"
        logger.warning("another run committed this sequence id first; this comparison's objects are orphans")
    return manifest


def run_comparison(
    *,
    store: LakeStore,
    ssm: Any,
    connection: pg8000.native.Connection,
    ssm_prefix: str,
    tables: Sequence[SourceTable],
    previous: Previous,
    run_seq: int,
    attempt: str,
    guard: DeleteGuard | None = None,
    clock: Callable[[], datetime],
    metrics: Metrics | None = None,
) -> ComparisonResult:
    """Compare every table with the lake and commit what differs as run ``run_seq``.

    ``previous`` is what ``ingestion.run.run_compare`` resolved (SSM rolled forward, gaps
    reported), ``run_seq``/``attempt`` its claim.

    Raises
    ------
    SourceQueryError
        A table could not be read: nothing is committed (a partial read is never a deletion).
    MassDeletionHeldError
        A table lost more rows than ``guard`` allows: nothing is committed.
    """
    t_start = time.perf_counter()
    result = ComparisonResult("committed", run_seq, attempt)
    run = _Run(previous, result, to_source_time(clock()))
    _compare_all(store, connection, tables, run, guard or DeleteGuard())
    manifest = _commit(store, run, clock)
    if result.status == "committed":
        publish_state(store, ssm, ssm_prefix, manifest)
    result.duration_ms = round((time.perf_counter() - t_start) * 1000)
    _report(result, metrics)
    return result


def _report(result: ComparisonResult, metrics: Metrics | None) -> None:
    logger.info("comparison finished", extra=result.summary())
    if metrics is None:
        return
    committed = 1 if result.status == "committed" else 0
    metrics.add_metric(name="ComparisonsCompleted", unit=MetricUnit.Count, value=committed)
    metrics.add_metric(name="RowsFoundDeleted", unit=MetricUnit.Count, value=result.deleted if committed else 0)
    metrics.add_metric(
        name="RowsFoundChanged", unit=MetricUnit.Count, value=result.changed_in_place if committed else 0
    )
