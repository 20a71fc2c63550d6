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

from common.runs import RUNS_PREFIX, run_key, seq_from_key
from common.s3_store import LakeStore
from local.aws_resources import PipelineResources
from ops.quarantine import counts_by_table, list_quarantine

LEDGER_TABLE = "load_ledger"  # pipeline.load_ledger (sql/warehouse/002_*.sql)


@dataclass
class StageRun:
    """The last committed run of one stage."""

    stage: str
    run_seq: int | None
    committed_at: str | None = None


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


def last_committed_record(store: LakeStore) -> tuple[int, dict[str, Any]] | None:
    """The highest run whose commit record exists in a bucket, and that record."""
    last: int | None = None
    for key in store.list_keys(RUNS_PREFIX):
        seq = seq_from_key(key)
        if seq is not None:
            last = seq if last is None else max(last, seq)
    if last is None:
        return None
    return last, store.get_json(run_key(last))


def last_committed_run(store: LakeStore) -> StageRun:
    """The highest run whose commit record exists in a bucket."""
    found = last_committed_record(store)
    if found is None:
        return StageRun(store.bucket, None)
    return StageRun(store.bucket, found[0], found[1].get("committed_at"))


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
    prefix = resources.ssm_prefix.rstrip("/")

    def param(name: str, default: str) -> str:
        try:
            return str(ssm.get_parameter(Name=f"{prefix}/ingestion/{name}")["Parameter"]["Value"])
        except ssm.exceptions.ParameterNotFound:
            return default

    ingest = LakeStore(resources.ingest_bucket, s3)
    processed = LakeStore(resources.processed_bucket, s3)
    newest_manifest = last_committed_record(ingest)
    ingest_run = StageRun("ingestion", None)
    future_rows: dict[str, dict[str, Any]] = {}
    if newest_manifest is not None:
        seq, manifest = newest_manifest
        ingest_run = StageRun("ingestion", seq, manifest.get("committed_at"))
        future_rows = manifest.get("future_rows") or {}
    transform_run = last_committed_run(processed)
    transform_run.stage = "transform"
    load_run = last_loaded_run(warehouse) if warehouse is not None else StageRun("load", None)
    return PipelineStatus(
        ssm_last_run_seq=int(param("last_run_seq", "0")),
        watermarks=json.loads(param("watermarks", "{}")),
        stages=[ingest_run, transform_run, load_run],
        quarantined=counts_by_table(list_quarantine(processed)),
        failure_queue_depth=failure_queue_depth(sqs, failure_queue_url),
        future_rows=future_rows,
        load_quarantined=load_quarantine_counts(warehouse) if warehouse is not None else {},
    )
