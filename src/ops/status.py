"""Where the pipeline is: state, last committed run of each stage, lag, quarantine, failures.

Everything is read from where the stages keep it (docs/architecture.md): SSM for the
ingestion state, the commit records in the two buckets, the load ledger in the
warehouse, the quarantine objects, and the failure queue of asynchronous invocations.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pg8000.native

from common.config import PipelineResources
from common.s3_store import LakeStore
from lake import ssm as ssm_names
from lake.commit_record import CommitRecord, read_commit_record
from lake.errors import ContractError
from lake.keys import KeyKind, committed_runs, parse_key
from lake.manifest import IngestManifest, SnapshotCursor, read_manifest
from ops.quarantined import counts_by_table, list_quarantine

LEDGER_TABLE = "load_ledger"  # pipeline.load_ledger (sql/warehouse/002_*.sql)


@dataclass
class StageRun:
    """The last committed run of one stage."""

    stage: str
    run_seq: int | None
    committed_at: str | None = None


@dataclass(frozen=True)
class LastComparison:
    """When a table was last compared with the lake and what that comparison found."""

    run_seq: int
    committed_at: str | None
    deleted: int
    changed_in_place: int


def last_comparisons(store: LakeStore, manifest: IngestManifest | None) -> dict[str, LastComparison]:
    """Per table, the comparison whose state the newest manifest carries ({} before the first comparison)."""
    if manifest is None or manifest.compare_state is None:
        return {}
    out: dict[str, LastComparison] = {}
    runs: dict[int, IngestManifest | None] = {}
    for table, key in sorted(manifest.compare_state.tables.items()):
        parsed = parse_key(key, KeyKind.COMPARE_STATE)
        if parsed is None:
            continue
        if parsed.run_seq not in runs:
            try:
                runs[parsed.run_seq] = read_manifest(store, parsed.run_seq)
            except ContractError:
                runs[parsed.run_seq] = None
        run = runs[parsed.run_seq]
        found = run.changes.get(table) if run is not None else None
        out[table] = LastComparison(
            parsed.run_seq,
            run.committed_at if run is not None else None,
            len(found.deleted) if found else 0,
            len(found.changed_in_place) if found else 0,
        )
    return out


@dataclass
class PipelineStatus:
    """A snapshot of the pipeline's state; ``lag_runs`` says how far each stage trails ingestion."""

    ssm_last_run_seq: int
    watermarks: dict[str, str]
    stages: list[StageRun]
    quarantined: dict[str, int]
    failure_queue_depth: int | None
    # The newest ingestion run's rows stamped in the future: table -> {"rows", "keys"}.
    future_rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Rows the warehouse refused at load time (pipeline.load_quarantine), per table.
    load_quarantined: dict[str, int] = field(default_factory=dict)
    # Per source table: the last comparison with the lake (ingestion.compare) and what it found.
    comparisons: dict[str, LastComparison] = field(default_factory=dict)
    # First snapshots under way in key ranges (the newest manifest's; ingestion.key_ranges).
    snapshots: dict[str, SnapshotCursor] = field(default_factory=dict)
    checked_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def stage(self, name: str) -> StageRun:
        return next(s for s in self.stages if s.stage == name)

    @property
    def lag_runs(self) -> dict[str, int]:
        head = self.stage("ingestion").run_seq or 0
        return {s.stage: head - (s.run_seq or 0) for s in self.stages}

    @property
    def source_lag_seconds(self) -> float | None:
        """Now minus the oldest watermark: how stale the least fresh table can be."""
        if not self.watermarks:
            return None
        oldest = min(datetime.fromisoformat(v).replace(tzinfo=UTC) for v in self.watermarks.values())
        return (self.checked_at - oldest).total_seconds()


def newest_record(store: LakeStore, stage: str) -> tuple[int | None, IngestManifest | CommitRecord | None]:
    """The highest run with a commit record in a stage's bucket (``ingestion`` or ``transform``), and the record.

    The record is None if it cannot be read: status reports, it does not fail.
    """
    last = max(committed_runs(store), default=None)
    if last is None:
        return None, None
    try:
        return last, read_manifest(store, last) if stage == "ingestion" else read_commit_record(store, last)
    except ContractError:
        return last, None


def last_committed_run(store: LakeStore, stage: str = "transform") -> StageRun:
    """The highest run whose commit record exists in a stage's bucket, and when it was committed."""
    seq, record = newest_record(store, stage)
    return StageRun(stage, seq, record.committed_at if record is not None else None)


def load_quarantine_counts(warehouse: pg8000.native.Connection) -> dict[str, int]:
    """Rows in ``pipeline.load_quarantine`` per warehouse table ({} before the migration)."""
    if not warehouse.run("SELECT to_regclass('pipeline.load_quarantine') IS NOT NULL")[0][0]:
        return {}
    rows = warehouse.run("SELECT table_name, count(*) FROM pipeline.load_quarantine GROUP BY 1 ORDER BY 1")
    return {str(t): int(n) for t, n in rows}


def ledger_columns(warehouse: pg8000.native.Connection) -> list[str]:
    """Columns of the load ledger, or [] when the warehouse has none (not migrated yet)."""
    rows = warehouse.run(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_schema = 'pipeline' AND table_name = :t ORDER BY ordinal_position",
        t=LEDGER_TABLE,
    )
    return [r[0] for r in rows]


def last_loaded_run(warehouse: pg8000.native.Connection) -> StageRun:
    """The highest run the load ledger records as applied."""
    columns = ledger_columns(warehouse)
    if "run_seq" not in columns:
        return StageRun("load", None)
    when = next((c for c in ("loaded_at", "committed_at", "applied_at") if c in columns), None)
    if when is None:
        seq = warehouse.run("SELECT max(run_seq) FROM pipeline.load_ledger")[0][0]
        return StageRun("load", seq)
    rows = warehouse.run(
        f"SELECT run_seq, {pg8000.native.identifier(when)} FROM pipeline.load_ledger"  # noqa: S608  # nosec B608
        " ORDER BY run_seq DESC LIMIT 1"
    )
    if not rows:
        return StageRun("load", None)
    return StageRun("load", int(rows[0][0]), str(rows[0][1]))


def failure_queue_depth(sqs: Any, queue_url: str | None) -> int | None:
    """Messages waiting in the failure queue (visible + in flight); None if unknown."""
    if sqs is None or not queue_url:
        return None
    attrs = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs.get("ApproximateNumberOfMessages", 0)) + int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0))


def collect_status(
    *,
    s3: Any,
    ssm: Any,
    resources: PipelineResources,
    warehouse: pg8000.native.Connection | None,
    sqs: Any = None,
    failure_queue_url: str | None = None,
) -> PipelineStatus:
    """Read the whole pipeline's state.

    Parameters
    ----------
    s3, ssm, sqs
        boto3 clients of the account (moto locally).
    resources
        Bucket names, SSM prefix (from the Terraform outputs).
    warehouse
        A warehouse connection for the load ledger; None skips it.
    failure_queue_url
        The on-failure destination queue, for its depth.
    """

    def param(leaf: str) -> str:
        try:
            name = ssm_names.parameter_name(resources.ssm_prefix, leaf)
            return str(ssm.get_parameter(Name=name)["Parameter"]["Value"])
        except ssm.exceptions.ParameterNotFound:
            return ssm_names.INITIAL_VALUES[leaf]

    ingest = LakeStore(resources.ingest_bucket, s3)
    processed = LakeStore(resources.processed_bucket, s3)
    seq, manifest = newest_record(ingest, "ingestion")
    ingest_run = StageRun("ingestion", seq, manifest.committed_at if manifest is not None else None)
    future_rows = manifest.future_rows if isinstance(manifest, IngestManifest) else {}
    transform_run = last_committed_run(processed, "transform")
    load_run = last_loaded_run(warehouse) if warehouse is not None else StageRun("load", None)
    return PipelineStatus(
        ssm_last_run_seq=int(param(ssm_names.LAST_RUN_SEQ)),
        watermarks=json.loads(param(ssm_names.WATERMARKS)),
        stages=[ingest_run, transform_run, load_run],
        quarantined=counts_by_table(list_quarantine(processed)),
        failure_queue_depth=failure_queue_depth(sqs, failure_queue_url),
        future_rows=future_rows,
        load_quarantined=load_quarantine_counts(warehouse) if warehouse is not None else {},
        comparisons=last_comparisons(ingest, manifest if isinstance(manifest, IngestManifest) else None),
        snapshots=manifest.snapshot_cursors if isinstance(manifest, IngestManifest) else {},
    )
