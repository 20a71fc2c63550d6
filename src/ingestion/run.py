"""One ingestion run: state in, table objects, recent keys and the manifest out, SSM updated.

Order of a run (docs/ingestion.md explains why each step is where it is):

1. read SSM (uncached); roll forward over manifests after ``last_run_seq``;
2. claim ``seq = previous + 1`` (only a claim: the manifest decides who wins it);
3. one ``REPEATABLE READ READ ONLY`` transaction on totesys: every table from the same
   snapshot; per table check the live columns, stream its window to a gzip temp file,
   create ``data/<table>/<day>/<seq>-<attempt>.jsonl.gz`` (only if it has rows). A table
   never extracted is read in key ranges, at most ``snapshot_rows_per_run`` rows of such
   first snapshots per run (``ingestion.key_ranges``); no new table is started once the
   ``deadline`` has passed;
4. create the recent-keys object, then ``runs/<seq>.json`` LAST (``If-None-Match: *``):
   the commit point; if it exists another run won the seq and this one is superseded;
5. update SSM (watermarks, then ``last_run_seq``), never backwards.

A crash anywhere before 4 leaves only orphans under a random attempt id; a crash
after 4 leaves SSM behind the lake, which step 1 of the next run repairs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pg8000.native
from aws_lambda_powertools.metrics import single_metric

from common.config import FUTURE_TOLERANCE_SECONDS, LOOKBACK_SECONDS, SNAPSHOT_ROWS_PER_RUN
from common.observability import MetricUnit, get_logger
from common.s3_store import LakeStore, ObjectExistsError
from common.timefmt import utc_stamp
from ingestion import recent_keys
from ingestion.compare import ComparisonResult, DeleteGuard, run_comparison
from ingestion.extract import check_source_columns, extract_table
from ingestion.future_rows import FutureRows, find_future_rows
from ingestion.key_ranges import KeyRange, first_key, next_range
from ingestion.snapshot import read_only_snapshot
from ingestion.spool import JsonlSpool
from ingestion.state import Previous, publish_state, read_state, resolve_previous, write_state
from ingestion.watermarks import Window, format_watermark, parse_watermark, to_source_time, window_for
from lake.keys import data_key, new_attempt_id, recent_keys_key, run_key
from lake.manifest import IngestManifest, SnapshotCursor, TableEntry, write_manifest

if TYPE_CHECKING:
    from aws_lambda_powertools import Metrics

    from common.source_tables import SourceTable

logger = get_logger("ingestion")

DEFAULT_LOOKBACK = timedelta(seconds=LOOKBACK_SECONDS.default)
DEFAULT_FUTURE_TOLERANCE = timedelta(seconds=FUTURE_TOLERANCE_SECONDS.default)
DEFAULT_SNAPSHOT_ROWS = SNAPSHOT_ROWS_PER_RUN.default
COMMITTED = "committed"
SUPERSEDED = "superseded"


def utc_now() -> datetime:
    """The default clock (a callable so tests can freeze or step time)."""
    return datetime.now(UTC)


@dataclass
class IngestionResult:
    """What a run did; ``status`` is ``committed`` or ``superseded`` (another run took the seq)."""

    status: str
    run_seq: int
    attempt: str
    manifest_key: str
    rows: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    sequence_gaps: tuple[int, ...] = ()
    rolled_forward: tuple[int, ...] = ()
    future_rows: dict[str, FutureRows] = field(default_factory=dict)
    # Tables whose first snapshot continues next run, with the next range's first key.
    snapshot_pending: dict[str, int] = field(default_factory=dict)
    stopped_early: bool = False  # the deadline came: later tables wait for the next run
    duration_ms: int = 0

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    def summary(self) -> dict[str, Any]:
        """The small JSON-serialisable summary the handler returns."""
        return {
            "status": self.status,
            "run_seq": self.run_seq,
            "manifest": self.manifest_key,
            "rows": self.total_rows,
            "tables": dict(self.rows),
            "sequence_gaps": list(self.sequence_gaps),
            "future_rows": {t: f.rows for t, f in self.future_rows.items()},
            "snapshot_pending": dict(self.snapshot_pending),
            "stopped_early": self.stopped_early,
            "duration_ms": self.duration_ms,
        }


def _continue_from(store: LakeStore, ssm: Any, ssm_prefix: str, metrics: Metrics | None) -> Previous:
    """Read SSM, roll forward over later manifests, report gaps."""
    previous = resolve_previous(store, read_state(ssm, ssm_prefix))
    if previous.rolled_forward:
        logger.warning(
            "manifests beyond SSM's last_run_seq (a run died before updating SSM): rolling SSM forward",
            extra={"manifests": list(previous.rolled_forward)},
        )
        write_state(ssm, ssm_prefix, previous.run_seq, previous.watermarks, previous.snapshot_cursors)
    if previous.missing:
        logger.warning("run sequence gap: manifests missing", extra={"missing_run_seqs": list(previous.missing)})
    if metrics is not None:
        metrics.add_metric(name="SequenceGaps", unit=MetricUnit.Count, value=len(previous.missing))
    if previous.ssm_stale:
        logger.warning("SSM watermarks differ from the last manifest's; continuing from the manifest")
    return previous


@dataclass
class _Plan:
    """What this run may still take of first snapshots: rows left of the budget, the deadline.

    Walking the tables in order, the first table whose snapshot stays incomplete (or the
    budget, or the deadline) stops every later table's first snapshot from starting, so
    parents always complete before their children begin.
    """

    rows_left: int | None
    deadline: float | None
    blocked: bool = False
    stopped_early: bool = False

    def out_of_time(self) -> bool:
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self.stopped_early = True
        return self.stopped_early


@dataclass(frozen=True)
class _Inputs:
    """What every table of one run is extracted with."""

    store: LakeStore
    connection: pg8000.native.Connection
    previous: Previous
    seen: dict[str, set[recent_keys.Key]]
    run_seq: int
    attempt: str
    started_at: datetime
    lookback: timedelta
    future_tolerance: timedelta
    spool_dir: str | None
    result: IngestionResult


def _extract_all(run: _Inputs, tables: Sequence[SourceTable], plan: _Plan) -> _Extracted:
    """Extract every table from one snapshot and create its data object (tables the plan
    leaves for later keep their watermark, cursor and recent keys)."""
    out = _Extracted(dict(run.previous.watermarks), dict(run.previous.snapshot_cursors))
    # Tables not in this run keep their previous recent keys (their watermark is unchanged).
    out.recent = {t: k for t, k in run.seen.items() if t not in {x.name for x in tables}}
    with read_only_snapshot(run.connection, f"extraction of run {run.run_seq} failed"):
        for name, columns in check_source_columns(run.connection, tables).items():
            logger.warning("columns outside the contract; not ingested", extra={"table": name, "columns": columns})
        for table in tables:
            snapshot = not run.previous.snapshot_complete(table.name)
            if plan.out_of_time():
                logger.warning("little time left: committing what this run has", extra={"table": table.name})
            elif snapshot and (plan.blocked or plan.rows_left == 0):
                plan.blocked = True  # a parent is incomplete, or the budget is spent: not this run
            else:
                _extract_one(run, table, snapshot, plan, out)
                continue
            out.recent.setdefault(table.name, run.seen.get(table.name, set()))
    run.result.snapshot_pending = {t: c.from_id for t, c in out.cursors.items()}
    run.result.stopped_early = plan.stopped_early
    return out


def _extract_one(run: _Inputs, table: SourceTable, snapshot: bool, plan: _Plan, out: _Extracted) -> None:
    """One table: its window (a first snapshot: its next key range) into a data object."""
    t0 = time.perf_counter()
    key_range, cursor = None, None
    if snapshot:
        cursor = run.previous.snapshot_cursors.get(table.name) or SnapshotCursor(
            format_watermark(run.started_at), first_key(run.connection, table)
        )
        key_range = next_range(run.connection, table, cursor.from_id, plan.rows_left)
        window = window_for(None, parse_watermark(cursor.bound), run.lookback)
    else:
        window = window_for(run.previous.watermarks.get(table.name), run.started_at, run.lookback)
    table_seen = run.seen.get(table.name, set())
    table_recent = recent_keys.carry_forward(table_seen, window.recent_from)
    key = data_key(table.name, run.run_seq, run.attempt, run.started_at)
    key, rows, digest, dropped = _spool(
        run.store, run.connection, table, window, table_seen, table_recent, run.spool_dir, key, key_range
    )
    _note_future_rows(run.connection, table, run.started_at + run.future_tolerance, run.result)
    out.entries[table.name] = TableEntry(key, rows, window.start, window.end, digest)
    out.recent[table.name] = table_recent
    run.result.rows[table.name], run.result.dropped[table.name] = rows, dropped
    if cursor is None or key_range is None or key_range.to_id is None:  # not a snapshot, or its last range
        out.watermarks[table.name] = window.end
        out.cursors.pop(table.name, None)
    else:
        out.cursors[table.name] = SnapshotCursor(cursor.bound, key_range.to_id, cursor.rows + rows, cursor.runs + 1)
        plan.blocked = True
    if snapshot and plan.rows_left is not None:
        plan.rows_left = max(0, plan.rows_left - rows)
    logger.info(
        "table extracted",
        extra={
            "table": table.name,
            "rows": rows,
            "dropped_as_seen": dropped,
            "window": {"start": window.start, "end": window.end},
            **({"key_range": [key_range.from_id, key_range.to_id]} if key_range else {}),
            "snapshot_complete": table.name in out.watermarks,
            "key": key,
            "duration_ms": round((time.perf_counter() - t0) * 1000),
        },
    )


@dataclass
class _Extracted:
    """What the tables of a run produced: the manifest's tables, watermarks, cursors and recent keys."""

    watermarks: dict[str, str]
    cursors: dict[str, SnapshotCursor]
    entries: dict[str, TableEntry] = field(default_factory=dict)
    recent: dict[str, set[recent_keys.Key]] = field(default_factory=dict)


def _spool(
    store: LakeStore,
    connection: pg8000.native.Connection,
    table: SourceTable,
    window: Window,
    seen: set[recent_keys.Key],
    recent: set[recent_keys.Key],
    spool_dir: str | None,
    key: str,
    key_range: KeyRange | None = None,
) -> tuple[str | None, int, str | None, int]:
    """Extract one table's window to a spool and create its data object at ``key`` if it has rows.

    Returns the object's key and sha256 (None when no rows), the rows, and the rows dropped as seen.
    """
    with JsonlSpool(table, spool_dir) as spool:
        dropped = extract_table(connection, table, window, seen, spool, recent, key_range)
        digest = spool.finish()
        if not spool.rows:
            return None, 0, None, dropped
        spool.upload(store, key)
        return key, spool.rows, digest, dropped


def _note_future_rows(
    connection: pg8000.native.Connection, table: SourceTable, beyond: datetime, result: IngestionResult
) -> None:
    """Count and name the rows stamped beyond ``beyond``: left for a later run, but never silently."""
    ahead = find_future_rows(connection, table, beyond)
    if ahead is None:
        return
    result.future_rows[table.name] = ahead
    logger.warning(
        "source rows stamped in the future: each is ingested once its time comes, not before",
        extra={
            "table": table.name,
            "rows": ahead.rows,
            "beyond": format_watermark(beyond),
            "keys": [f"{table.primary_key}={pk} last_updated={stamp}" for pk, stamp in ahead.keys],
        },
    )


def run_ingestion(
    *,
    store: LakeStore,
    ssm: Any,
    connection: pg8000.native.Connection,
    ssm_prefix: str,
    tables: Sequence[SourceTable],
    lookback: timedelta = DEFAULT_LOOKBACK,
    future_tolerance: timedelta = DEFAULT_FUTURE_TOLERANCE,
    clock: Callable[[], datetime] = utc_now,
    metrics: Metrics | None = None,
    spool_dir: str | None = None,
    snapshot_rows_per_run: int | None = DEFAULT_SNAPSHOT_ROWS,
    deadline: float | None = None,
) -> IngestionResult:
    """Run one ingestion: extract every table's changes since its watermark and commit them.

    Parameters
    ----------
    store, ssm, connection
        The ingest bucket; a boto3 SSM client; a pg8000 connection to totesys, no transaction open.
    ssm_prefix
        Prefix of the state parameters, e.g. ``/totes/dev``.
    tables
        Allow-listed tables to extract (``common.source_tables.resolve_tables``).
    lookback, future_tolerance
        How far below each watermark to re-read for late-committing transactions; rows stamped
        more than ``future_tolerance`` after the run's start are reported (``ingestion.future_rows``).
    clock, metrics, spool_dir
        Returns the current time (aware, or naive UTC); Powertools Metrics to add to
        (the caller flushes), or None; the folder for temp files (default: /tmp on Lambda).
    snapshot_rows_per_run, deadline
        At most this many rows of first snapshots per run (None: no limit; a bigger table's
        continues next run, ``ingestion.key_ranges``); the ``time.monotonic()`` after which
        no further table is started (the run commits what it has).

    Returns
    -------
    IngestionResult
        ``committed``, or ``superseded``: a concurrent run committed the seq first (its objects are orphans).

    Raises
    ------
    SourceQueryError, SchemaMismatchError, StateError, WatermarkError, ManifestError
        No commit (or committed but SSM not updated: StateError); the next run continues safely.
    """
    t_start = time.perf_counter()
    previous = _continue_from(store, ssm, ssm_prefix, metrics)
    result = _claim(previous)
    seen, started_at = recent_keys.load(store, previous.recent_keys), to_source_time(clock())
    inputs = _Inputs(store, connection, previous, seen, result.run_seq, result.attempt, started_at, lookback,
                     future_tolerance, spool_dir, result)  # fmt: skip
    extracted = _extract_all(inputs, tables, _Plan(snapshot_rows_per_run, deadline))
    manifest = _commit(store, result, previous, extracted, started_at, clock)
    if result.status == COMMITTED:
        _publish(store, ssm, ssm_prefix, manifest)
    result.duration_ms = round((time.perf_counter() - t_start) * 1000)
    _report(result, manifest.watermarks, tables, clock(), metrics)
    return result


def run_compare(
    *,
    store: LakeStore,
    ssm: Any,
    connection: pg8000.native.Connection,
    ssm_prefix: str,
    tables: Sequence[SourceTable],
    guard: DeleteGuard | None = None,
    clock: Callable[[], datetime] = utc_now,
    metrics: Metrics | None = None,
) -> ComparisonResult:
    """Run one comparison of the source with the lake (``ingestion.compare``) under the next sequence id.

    Continues from the same state as an incremental run (SSM, rolled forward over later
    manifests) and claims the next id the same way, so the two never commit one id twice.
    Only tables whose first snapshot is complete are compared (a partial snapshot must
    never look like deletions).
    """
    previous = _continue_from(store, ssm, ssm_prefix, metrics)
    claim = _claim(previous)
    # A table whose first snapshot is incomplete (or not begun) is not compared: the lake
    # holds only part of it, and its state would name rows the lake never got.
    ready = [t for t in tables if previous.snapshot_complete(t.name)]
    waiting = [t.name for t in tables if t not in ready]
    if waiting:
        logger.info("not compared until their first snapshot is complete", extra={"tables": waiting})
    return run_comparison(
        store=store, ssm=ssm, connection=connection, ssm_prefix=ssm_prefix, tables=ready, previous=previous,
        run_seq=claim.run_seq, attempt=claim.attempt, guard=guard, clock=clock, metrics=metrics,
    )  # fmt: skip


def _publish(store: LakeStore, ssm: Any, ssm_prefix: str, manifest: IngestManifest) -> None:
    """Update SSM (watermarks, then ``last_run_seq``) for a committed run, converging on the newest manifest."""
    named = publish_state(store, ssm, ssm_prefix, manifest)
    if named != manifest.run_seq:
        logger.warning("a later run committed meanwhile; SSM names it", extra={"ssm_run_seq": named})


def _claim(previous: Previous) -> IngestionResult:
    """Claim ``previous + 1`` under a fresh attempt id (only a claim: the manifest decides who wins it)."""
    run_seq, attempt = previous.run_seq + 1, new_attempt_id()
    logger.append_keys(run_seq=run_seq, attempt=attempt)
    return IngestionResult(
        status=COMMITTED,
        run_seq=run_seq,
        attempt=attempt,
        manifest_key=run_key(run_seq),
        sequence_gaps=previous.missing,
        rolled_forward=previous.rolled_forward,
    )


def _commit(
    store: LakeStore,
    result: IngestionResult,
    previous: Previous,
    extracted: _Extracted,
    started_at: datetime,
    clock: Callable[[], datetime],
) -> IngestManifest:
    """Create the recent-keys object, then the manifest LAST; ``result.status`` says whether this run won its seq."""
    run_seq, attempt = result.run_seq, result.attempt
    keys_key = recent_keys_key(run_seq, attempt)
    store.put_new(keys_key, recent_keys.encode(extracted.recent), content_type="application/gzip")
    manifest = IngestManifest(
        run_seq=run_seq, attempt=attempt, started_at=utc_stamp(started_at), committed_at=utc_stamp(clock()),
        previous_run_seq=previous.run_seq, tables=extracted.entries, watermarks=extracted.watermarks,
        recent_keys=keys_key, future_rows={t: f.to_doc() for t, f in result.future_rows.items()},
        compare_state=previous.compare_state, snapshot_cursors=extracted.cursors,
    )  # fmt: skip
    try:
        write_manifest(store, manifest)
    except ObjectExistsError:
        result.status = SUPERSEDED
        logger.warning("another run committed this sequence id first; this attempt's objects are orphans")
    return manifest


def _report(
    result: IngestionResult,
    watermarks: dict[str, str],
    tables: Sequence[SourceTable],
    now: datetime,
    metrics: Metrics | None,
) -> None:
    oldest = min((parse_watermark(watermarks[t.name]) for t in tables if t.name in watermarks), default=None)
    lag = (to_source_time(now) - oldest).total_seconds() if oldest else None
    logger.info(
        "ingestion run finished",
        extra={"status": result.status, "rows": result.total_rows, "duration_ms": result.duration_ms, "lag_s": lag},
    )
    if metrics is None:
        return
    committed = 1 if result.status == COMMITTED else 0
    metrics.add_metric(name="RunsCommitted", unit=MetricUnit.Count, value=committed)
    metrics.add_metric(name="RowsExtracted", unit=MetricUnit.Count, value=result.total_rows if committed else 0)
    metrics.add_metric(name="RunDurationMs", unit=MetricUnit.Milliseconds, value=result.duration_ms)
    # Every run, 0 included: the alarm on it (terraform/alarms.tf) then always has data.
    metrics.add_metric(name="FutureRows", unit=MetricUnit.Count, value=sum(f.rows for f in result.future_rows.values()))
    if lag is not None:
        metrics.add_metric(name="SourceLagSeconds", unit=MetricUnit.Seconds, value=lag)
    if committed:
        # Rows per table: same metric name with a `table` dimension (one EMF line each).
        for table, rows in result.rows.items():
            dims = {"service": metrics.service or "ingestion", "table": table}
            with single_metric(
                name="RowsExtracted", unit=MetricUnit.Count, value=rows, namespace=metrics.namespace,
                default_dimensions=dims,
            ):  # fmt: skip
                pass
