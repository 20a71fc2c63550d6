"""Lambda entry point of the load stage: config, clients, ``run_load``, summary.

Triggered by ``s3:ObjectCreated`` on the processed bucket's ``runs/*.json`` and by
a schedule (``{}``). The event only wakes the loader; what to load comes from the
bucket and the ledger (docs/architecture.md, Handlers).

Two other events, each of which loads nothing:

* ``{"action": "migrate"}`` applies the warehouse migrations shipped in this zip
  (``load.schema``); ``totes migrate --outputs`` sends it after every deploy. A load (and
  a fold) first checks that every migration of this code is applied, and fails before
  touching any data if one is not, naming the command to run.
* ``{"action": "fold_summaries"}`` folds the committed runs into the analytics app's
  summaries (``load.summaries.fold_pending``). A load that committed runs sends it to its
  own function, asynchronously, as it finishes; a schedule sends it as a backstop. The
  fold has its own invocation, timeout and retries: a fold failure never rolls back or
  stops a load, and the summaries trail the facts until the fold commits (the app says so).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pg8000.exceptions
import pg8000.native
from botocore.exceptions import BotoCoreError, ClientError

from common.config import LoadConfig
from common.db import DbCredentials, connect, get_db_credentials
from common.errors import UnknownActionError
from common.observability import MetricUnit, failures_logged, get_logger, get_metrics
from common.s3_store import LakeStore
from load.errors import WarehouseLoadError
from load.run import LoadResult, run_load
from load.schema import ensure_schema_current, migrate
from load.summaries import fold_pending

logger = get_logger("load")
metrics = get_metrics("load")
MIGRATE_ACTION = "migrate"
FOLD_ACTION = "fold_summaries"
FOLD_EVENT = {"action": FOLD_ACTION}


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


@contextmanager
def _warehouse(config: LoadConfig) -> Iterator[pg8000.native.Connection]:
    """A connection to the warehouse with the secret ``config`` names, closed after (every event's)."""
    con = _connect(get_db_credentials(config.warehouse_db_secret, boto3.client("secretsmanager")))
    try:
        yield con
    finally:
        _close(con)


def _load(event: dict[str, Any], context: Any) -> LoadResult:
    config = LoadConfig.from_env()
    logger.info("load woken", extra={"trigger_keys": _trigger_keys(event)})
    with _warehouse(config) as con:
        ensure_schema_current(con)  # before any data is read or written
        return run_load(
            LakeStore(config.processed_bucket, boto3.client("s3")),
            con,
            metrics=metrics,
            time_left_ms=getattr(context, "get_remaining_time_in_millis", None),
        )


def _migrate() -> dict[str, Any]:
    """Apply the migrations this zip carries; idempotent, advisory-locked (``load.schema``)."""
    with _warehouse(LoadConfig.from_env()) as con:
        applied = migrate(con)
        ensure_schema_current(con)
    metrics.add_metric(name="MigrationsApplied", unit=MetricUnit.Count, value=len(applied))
    summary = {"action": MIGRATE_ACTION, "applied": applied}
    logger.info("warehouse migrated" if applied else "warehouse schema already up to date", extra=summary)
    return summary


def _fold() -> dict[str, Any]:
    """Fold every committed run the summaries lack (``load.summaries.fold_pending``).

    Metrics: ``SummaryFoldsCompleted`` 1 per fold that ended well, also when nothing was
    pending (the summaries-stale alarm watches it), ``RunsFolded`` and the invocation's own
    ``SummaryFoldDurationMs`` (``RunDurationMs`` stays the load's).
    """
    started = time.perf_counter()
    with _warehouse(LoadConfig.from_env()) as con:
        ensure_schema_current(con)
        result = fold_pending(con)
    metrics.add_metric(name="SummaryFoldsCompleted", unit=MetricUnit.Count, value=1 if result.lock_acquired else 0)
    metrics.add_metric(name="RunsFolded", unit=MetricUnit.Count, value=result.runs_folded)
    elapsed_ms = (time.perf_counter() - started) * 1000
    metrics.add_metric(name="SummaryFoldDurationMs", unit=MetricUnit.Milliseconds, value=elapsed_ms)
    summary = {"action": FOLD_ACTION, **result.summary()}
    logger.info("summaries fold finished", extra=summary)
    return summary


def _request_fold() -> bool:
    """Ask this function, asynchronously, to fold the runs just committed; True if Lambda took the event.

    Outside Lambda (no ``AWS_LAMBDA_FUNCTION_NAME``: a local run, a test) nothing is sent:
    whatever ran the load folds after it (``ops.runner``). A refused request does not fail
    the load, whose runs are committed: it is logged at ERROR (the function's error-line
    alarm) and counted, and the next request or the schedule folds what is pending.
    """
    function = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
    if not function:
        return False
    try:
        boto3.client("lambda").invoke(
            FunctionName=function, InvocationType="Event", Payload=json.dumps(FOLD_EVENT).encode()
        )
    except (BotoCoreError, ClientError) as exc:
        logger.error(
            "the summaries' fold could not be requested; the next request or the schedule folds the runs",
            extra={"function": function, "error": repr(exc)},
        )
        metrics.add_metric(name="SummaryFoldRequestFailed", unit=MetricUnit.Count, value=1)
        return False
    return True


_ACTIONS = {MIGRATE_ACTION: (_migrate, "MigrationsFailed"), FOLD_ACTION: (_fold, "SummaryFoldsFailed")}


@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Load every pending processed run, or run an action (migrate, fold_summaries); raise on failure."""
    action = (event or {}).get("action")
    if action is not None:
        with failures_logged(logger, metrics):
            if action not in _ACTIONS:
                raise UnknownActionError(f"unknown load event action {action!r}; the actions are {sorted(_ACTIONS)}")
            run, failure_metric = _ACTIONS[action]
            try:
                return run()
            except Exception:
                metrics.add_metric(name=failure_metric, unit=MetricUnit.Count, value=1)
                raise
    started = time.perf_counter()
    try:
        with failures_logged(logger, metrics):
            result = _load(event, context)
    finally:
        elapsed_ms = (time.perf_counter() - started) * 1000
        metrics.add_metric(name="RunDurationMs", unit=MetricUnit.Milliseconds, value=elapsed_ms)
    summary = {**result.summary(), "fold_requested": result.runs_committed > 0 and _request_fold()}
    logger.info("load finished", extra=summary)
    return summary
