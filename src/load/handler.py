"""Lambda entry point of the load stage: config, clients, ``run_load``, summary.

Triggered by ``s3:ObjectCreated`` on the processed bucket's ``runs/*.json`` and by
a schedule (``{}``). The event only wakes the loader; what to load comes from the
bucket and the ledger (docs/architecture.md, Handlers).

One other event: ``{"action": "migrate"}`` applies the warehouse migrations shipped in
this zip (``load.schema``) and loads nothing; ``totes migrate --outputs`` sends it after
every deploy. A load first checks that every migration of this code is applied, and
fails before touching any data if one is not, naming the command to run.
"""

from __future__ import annotations

import time
from typing import Any

import boto3
import pg8000.exceptions
import pg8000.native

from common.config import LoadConfig
from common.db import DbCredentials, connect, get_db_credentials
from common.errors import UnknownActionError
from common.observability import MetricUnit, failures_logged, get_logger, get_metrics
from common.s3_store import LakeStore
from load.errors import WarehouseLoadError
from load.run import LoadResult, run_load
from load.schema import ensure_schema_current, migrate

logger = get_logger("load")
metrics = get_metrics("load")
MIGRATE_ACTION = "migrate"


def _trigger_keys(event: dict[str, Any]) -> list[str]:
    """The object keys an S3 event names, for the log only; never used to decide what to load."""
    return [r.get("s3", {}).get("object", {}).get("key", "?") for r in (event or {}).get("Records", [])]


def _connect(creds: DbCredentials) -> pg8000.native.Connection:
    try:
        return connect(creds, application_name="totes-load")
    except (pg8000.exceptions.Error, OSError) as exc:
        raise WarehouseLoadError(f"cannot connect to the warehouse at {creds.host}:{creds.port}: {exc}") from exc


def _close(con: pg8000.native.Connection) -> None:
    try:
        con.close()
    except (pg8000.exceptions.Error, OSError) as exc:  # a dead connection cannot be closed politely
        logger.warning("closing the warehouse connection failed", extra={"error": repr(exc)})


def _load(event: dict[str, Any], context: Any) -> LoadResult:
    config = LoadConfig.from_env()
    logger.info("load woken", extra={"trigger_keys": _trigger_keys(event)})
    creds = get_db_credentials(config.warehouse_db_secret, boto3.client("secretsmanager"))
    con = _connect(creds)
    try:
        ensure_schema_current(con)  # before any data is read or written
        return run_load(
            LakeStore(config.processed_bucket, boto3.client("s3")),
            con,
            metrics=metrics,
            time_left_ms=getattr(context, "get_remaining_time_in_millis", None),
        )
    finally:
        _close(con)


def _migrate() -> dict[str, Any]:
    """Apply the migrations this zip carries; idempotent, advisory-locked (``load.schema``)."""
    config = LoadConfig.from_env()
    creds = get_db_credentials(config.warehouse_db_secret, boto3.client("secretsmanager"))
    con = _connect(creds)
    try:
        applied = migrate(con)
        ensure_schema_current(con)
    finally:
        _close(con)
    metrics.add_metric(name="MigrationsApplied", unit=MetricUnit.Count, value=len(applied))
    summary = {"action": MIGRATE_ACTION, "applied": applied}
    logger.info("warehouse migrated" if applied else "warehouse schema already up to date", extra=summary)
    return summary


@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Load every pending processed run (or migrate, for ``{"action": "migrate"}``); raise on failure."""
    action = (event or {}).get("action")
    if action is not None:
        with failures_logged(logger, metrics):
            if action != MIGRATE_ACTION:
                raise UnknownActionError(f"unknown load event action {action!r}; the only one is {MIGRATE_ACTION!r}")
            try:
                return _migrate()
            except Exception:
                metrics.add_metric(name="MigrationsFailed", unit=MetricUnit.Count, value=1)
                raise
    started = time.perf_counter()
    try:
        with failures_logged(logger, metrics):
            result = _load(event, context)
    finally:
        elapsed_ms = (time.perf_counter() - started) * 1000
        metrics.add_metric(name="RunDurationMs", unit=MetricUnit.Milliseconds, value=elapsed_ms)
    summary = result.summary()
    logger.info("load finished", extra=summary)
    return summary
