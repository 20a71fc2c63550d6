"""Lambda entry point of the load stage: config, clients, ``run_load``, summary.

Triggered by ``s3:ObjectCreated`` on the processed bucket's ``runs/*.json`` and by
a schedule (``{}``). The event only wakes the loader; what to load comes from the
bucket and the ledger (docs/architecture.md, Handlers).
"""

from __future__ import annotations

import time
from typing import Any

import boto3
import pg8000.exceptions

from common.config import LoadConfig
from common.db import connect, get_db_credentials
from common.observability import MetricUnit, failures_logged, get_logger, get_metrics
from common.s3_store import LakeStore
from load.errors import WarehouseLoadError
from load.run import LoadResult, run_load

logger = get_logger("load")
metrics = get_metrics("load")


def _trigger_keys(event: dict[str, Any]) -> list[str]:
    """The object keys an S3 event names, for the log only; never used to decide what to load."""
    return [r.get("s3", {}).get("object", {}).get("key", "?") for r in (event or {}).get("Records", [])]


def _load(event: dict[str, Any], context: Any) -> LoadResult:
    config = LoadConfig.from_env()
    logger.info("load woken", extra={"trigger_keys": _trigger_keys(event)})
    creds = get_db_credentials(config.warehouse_db_secret, boto3.client("secretsmanager"))
    try:
        con = connect(creds, application_name="totes-load")
    except (pg8000.exceptions.Error, OSError) as exc:
        raise WarehouseLoadError(f"cannot connect to the warehouse at {creds.host}:{creds.port}: {exc}") from exc
    try:
        return run_load(
            LakeStore(config.processed_bucket, boto3.client("s3")),
            con,
            metrics=metrics,
            time_left_ms=getattr(context, "get_remaining_time_in_millis", None),
        )
    finally:
        try:
            con.close()
        except (pg8000.exceptions.Error, OSError) as exc:  # a dead connection cannot be closed politely
            logger.warning("closing the warehouse connection failed", extra={"error": repr(exc)})


@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Load every pending processed run; raise (fail the invocation) if a run cannot be loaded."""
    started = time.perf_counter()
    try:
        with failures_logged(logger):
            result = _load(event, context)
    finally:
        elapsed_ms = (time.perf_counter() - started) * 1000
        metrics.add_metric(name="RunDurationMs", unit=MetricUnit.Milliseconds, value=elapsed_ms)
    summary = result.summary()
    logger.info("load finished", extra=summary)
    return summary
