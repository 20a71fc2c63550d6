"""``run_transform``: catch up on every pending ingestion run, in order, committing each (``apply_run`` does one).

Pending means: an ingestion commit record ``runs/<seq>.json`` in the ingest bucket
whose seq is greater than the highest transform commit record in the processed
bucket. The triggering event is not trusted to say what to do (docs/architecture.md):
a duplicate event finds nothing pending (no-op), an event for run N while N-1 is
pending transforms N-1 then N, and a lost event is healed by the next one.

The transform commit record ``runs/<seq>.json`` is written last with ``put_new``, so
of two concurrent invocations exactly one commits a run; the other gets
``ObjectExistsError`` and stops quietly, its objects left as orphans that nothing
references.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from aws_lambda_powertools import Logger, Metrics

from common.observability import MetricUnit, get_logger
from common.s3_store import LakeStore, ObjectExistsError
from lake.commit_record import read_commit_record, write_commit_record
from lake.errors import CommitRecordError, ManifestError
from lake.keys import committed_runs, new_attempt_id, run_key
from lake.manifest import IngestManifest, read_manifest
from transform.apply_run import RunOutput, apply_run
from transform.dimension_plan import SNAPSHOT_TABLES
from transform.reader import DEFAULT_BLOCK_BYTES
from transform.snapshot import State, empty_state, read_snapshot

SERVICE = "transform"


@dataclass
class TransformResult:
    """What one invocation did."""

    runs_committed: list[int] = field(default_factory=list)
    lost_race_at: int | None = None  # a concurrent invocation committed this run first
    sequence_gaps: list[int] = field(default_factory=list)
    rows_in: dict[str, int] = field(default_factory=dict)
    rows_out: dict[str, int] = field(default_factory=dict)
    rows_quarantined: dict[str, int] = field(default_factory=dict)
    duration_ms: int = 0

    def summary(self) -> dict[str, Any]:
        """A small JSON-able summary (the handler's return value)."""
        return {
            "runs_committed": self.runs_committed,
            "lost_race_at": self.lost_race_at,
            "sequence_gaps": self.sequence_gaps,
            "rows_out": sum(self.rows_out.values()),
            "rows_quarantined": sum(self.rows_quarantined.values()),
            "duration_ms": self.duration_ms,
        }


def last_transformed(processed: LakeStore) -> int:
    """The highest run seq with a transform commit record (0 if none)."""
    last = 0
    for seq in committed_runs(processed):
        last = seq
    return last


def load_state(processed: LakeStore, seq: int) -> State:
    """The state transform commit ``seq`` left: every snapshot it names (empty if seq is 0).

    Raises
    ------
    CommitRecordError
        If the commit record is unreadable or lacks ``snapshots``.
    SnapshotError
        If a snapshot it names cannot be read.
    """
    if seq == 0:
        return State({t: empty_state(t) for t in SNAPSHOT_TABLES}, {t: None for t in SNAPSHOT_TABLES})
    snapshots = read_commit_record(processed, seq).snapshots
    if snapshots is None:
        raise CommitRecordError(f"transform commit record {run_key(seq)} names no snapshots")
    keys = {table: snapshots.get(table) for table in SNAPSHOT_TABLES}

    def read(table: str) -> pa.Table:
        snap = keys[table]
        return read_snapshot(processed, snap, table) if snap else empty_state(table)

    # Independent objects (one of them, transaction, big): read them together.
    with ThreadPoolExecutor(max_workers=len(SNAPSHOT_TABLES), thread_name_prefix="snapshot") as pool:
        tables = dict(zip(SNAPSHOT_TABLES, pool.map(read, SNAPSHOT_TABLES), strict=True))
    return State(tables, keys)


def run_transform(
    ingest: LakeStore,
    processed: LakeStore,
    *,
    logger: Logger | None = None,
    metrics: Metrics | None = None,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
) -> TransformResult:
    """Transform every pending ingestion run in sequence order, committing each.

    Parameters
    ----------
    ingest : LakeStore
        The ingest bucket (read only).
    processed : LakeStore
        The processed bucket (Parquet, snapshots, quarantine, commit records).
    logger : Logger, optional
        Powertools logger; a ``transform`` one by default.
    metrics : Metrics, optional
        Powertools metrics; when given, RunsCommitted, RowsTransformed,
        RowsQuarantined, SequenceGaps and RunDurationMs are added (the caller flushes).
    block_bytes : int
        Bytes of JSON lines parsed at once; bounds memory.

    Returns
    -------
    TransformResult
        Runs committed, gaps seen, rows per table.

    Raises
    ------
    TransformError, ManifestError, CommitRecordError
        If a run cannot be transformed correctly (broken manifest, missing object or
        snapshot): nothing of that run is committed and later runs wait.
    """
    log = logger or get_logger(SERVICE)
    started = time.perf_counter()
    result = TransformResult()
    _apply_pending(ingest, processed, log, result, block_bytes)
    result.duration_ms = round((time.perf_counter() - started) * 1000)
    if metrics is not None:
        _add_metrics(metrics, result)
    log.info("transform finished", extra=result.summary())
    return result


def _apply_pending(
    ingest: LakeStore, processed: LakeStore, log: Logger, result: TransformResult, block_bytes: int
) -> None:
    """Apply and commit each pending run in order; stop quietly if another invocation commits one first."""
    last = last_transformed(processed)
    pending = list(committed_runs(ingest, after=last))
    log.info("pending runs", extra={"last_transformed": last, "pending": pending})
    state: State | None = None
    for seq in pending:
        if seq != last + 1:
            # A gap cannot be filled later (docs/transform.md): waiting would stall forever.
            missing = list(range(last + 1, seq))
            result.sequence_gaps.extend(missing)
            log.warning("ingest run sequence gap", extra={"run_seq": seq, "missing": missing})
        if state is None:
            state = load_state(processed, last)
        manifest = _committed_manifest(ingest, seq)
        output = apply_run(ingest, processed, manifest, state, new_attempt_id(), block_bytes=block_bytes)
        try:
            write_commit_record(processed, output.record)
        except ObjectExistsError:
            log.info("run committed concurrently by another invocation; stopping", extra={"run_seq": seq})
            result.lost_race_at = seq
            break
        _report(log, output, result)
        result.runs_committed.append(seq)
        state, last = output.state, seq


def _committed_manifest(ingest: LakeStore, seq: int) -> IngestManifest:
    """The manifest of a run listed as committed (ManifestError if it is gone or malformed)."""
    manifest = read_manifest(ingest, seq)
    if manifest is None:
        raise ManifestError(f"ingest commit record {run_key(seq)} disappeared")
    return manifest


def _report(log: Logger, output: RunOutput, result: TransformResult) -> None:
    seq = output.record.run_seq
    quarantine = output.quarantine
    for table, n in output.rows_in.items():
        result.rows_in[table] = result.rows_in.get(table, 0) + n
    for table, n in output.rows_out.items():
        result.rows_out[table] = result.rows_out.get(table, 0) + n
        if n:
            log.info("table transformed", extra={"run_seq": seq, "table": table, "rows": n})
    for table, entry in output.record.quarantine.items():
        result.rows_quarantined[table] = result.rows_quarantined.get(table, 0) + entry.rows
        # ERROR: the quarantine alarm's metric filter counts these lines.
        log.error(
            "rows quarantined",
            extra={
                "run_seq": seq,
                "table": table,
                "rows": entry.rows,
                "key": entry.key,
                "reasons": quarantine.reasons(table) if quarantine else {},
            },
        )
    log.info(
        "run committed",
        extra={"run_seq": seq, "rows_in": output.rows_in, "duration_ms": output.record.duration_ms},
    )


def _add_metrics(metrics: Metrics, result: TransformResult) -> None:
    metrics.add_metric(name="RunsCommitted", unit=MetricUnit.Count, value=len(result.runs_committed))
    metrics.add_metric(name="RowsTransformed", unit=MetricUnit.Count, value=sum(result.rows_out.values()))
    metrics.add_metric(name="RowsQuarantined", unit=MetricUnit.Count, value=sum(result.rows_quarantined.values()))
    metrics.add_metric(name="SequenceGaps", unit=MetricUnit.Count, value=len(result.sequence_gaps))
    metrics.add_metric(name="RunDurationMs", unit=MetricUnit.Milliseconds, value=result.duration_ms)
