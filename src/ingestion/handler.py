"""Lambda entry point of the ingestion stage (EventBridge Scheduler).

Thin on purpose: config from the environment, clients, then ``run_ingestion``, or
``run_compare`` for the comparison's schedule (event ``{"action": "compare"}``; an
operator's ``{"action": "compare", "allow_mass_delete": true}`` applies deletions the
guard held). Every error escapes so that the invocation fails, is retried and reaches the alarm.
"""

from __future__ import annotations

import os
from datetime import timedelta
from functools import cache
from typing import Any

import boto3
import pg8000.native

from common.config import IngestionConfig
from common.db import connect, get_db_credentials
from common.observability import failures_logged, get_logger, get_metrics
from common.s3_store import LakeStore
from common.source_tables import resolve_tables
from ingestion.compare import DeleteGuard
from ingestion.errors import SourceConnectionError
from ingestion.run import run_compare, run_ingestion
from lake.changes import COMPARE_ACTION

logger = get_logger("ingestion")
metrics = get_metrics("ingestion")


@cache
def _client(service: str, endpoint: str | None) -> Any:
    """boto3 clients, built once per container (building one costs ~0.1 s); keyed by the
    endpoint so that a local run pointed at moto never reuses a client aimed elsewhere."""
    return boto3.client(service, endpoint_url=endpoint)


@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Run one ingestion and return its summary (status, run_seq, rows per table)."""
    with failures_logged(logger):
        if isinstance(event, dict) and event.get("action") == COMPARE_ACTION:
            return _ingest(compare=DeleteGuard(allow=event.get("allow_mass_delete") is True))
        return _ingest()


def _ingest(compare: DeleteGuard | None = None) -> dict[str, Any]:
    config = IngestionConfig.from_env()
    tables = resolve_tables(config.source_tables)  # an unknown table fails before any I/O
    endpoint = os.environ.get("AWS_ENDPOINT_URL") or None
    creds = get_db_credentials(config.source_db_secret, _client("secretsmanager", endpoint))
    try:
        connection = connect(creds, application_name="totes-ingestion")
    except (pg8000.native.Error, OSError) as exc:
        raise SourceConnectionError(f"cannot connect to totesys at {creds.host}:{creds.port}: {exc}") from exc
    store, ssm = LakeStore(config.ingest_bucket, _client("s3", endpoint)), _client("ssm", endpoint)
    try:
        if compare is not None:
            return run_compare(
                store=store, ssm=ssm, connection=connection, ssm_prefix=config.ssm_prefix, tables=tables,
                guard=compare, metrics=metrics,
            ).summary()  # fmt: skip
        result = run_ingestion(
            store=store, ssm=ssm, connection=connection, ssm_prefix=config.ssm_prefix, tables=tables,
            lookback=timedelta(seconds=config.lookback_seconds),
            future_tolerance=timedelta(seconds=config.future_tolerance_seconds), metrics=metrics,
        )  # fmt: skip
    finally:
        connection.close()
    return result.summary()
