"""Lambda entry point of the ingestion stage (EventBridge Scheduler).

Thin on purpose: config from the environment, clients, then ``run_ingestion``, or
``run_compare`` for the comparison's schedule (event ``{"action": "compare"}``; an
operator's ``{"action": "compare", "allow_mass_delete": true}`` applies deletions the
guard held). Every error escapes so that the invocation fails, is retried and reaches the alarm.

A table run starts no further table once half the invocation's time is gone (a first
snapshot's next range then waits for the next run). After a table run (not a comparison),
when ``FX_RATES_URL`` is set, the exchange-rate step (``ingestion.fx_run``), which runs
only once the table run has committed and can never fail the invocation: its errors are
logged at ERROR (the error-lines alarm) and counted (``FxRatesFailed``).
"""

from __future__ import annotations

import os
import time
from datetime import timedelta
from functools import cache
from typing import Any

import boto3
import pg8000.native

from common.config import FxRatesConfig, IngestionConfig
from common.db import connect, get_db_credentials
from common.errors import UnknownActionError, failure_fields
from common.observability import MetricUnit, failures_logged, get_logger, get_metrics
from common.s3_store import LakeStore
from common.source_tables import resolve_tables
from ingestion.compare import DeleteGuard
from ingestion.errors import SourceConnectionError
from ingestion.fx_api import RatesApi
from ingestion.fx_run import run_fx_rates
from ingestion.run import run_compare, run_ingestion, utc_now
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
    action = event.get("action") if isinstance(event, dict) else None
    with failures_logged(logger, metrics):
        if action == COMPARE_ACTION:
            return _ingest(compare=DeleteGuard(allow=event.get("allow_mass_delete") is True))
        if action is not None:
            raise UnknownActionError(f"unknown ingestion event action {action!r}; the only one is {COMPARE_ACTION!r}")
        return _ingest(context=context)


# The exchange-rate step stops asking the API this long before the Lambda timeout.
FX_TIME_MARGIN_S = 30.0


def _table_deadline(context: Any) -> float | None:
    """When the run starts no further table: once half the invocation's time is gone.

    A first snapshot's range is sized (``SNAPSHOT_ROWS_PER_RUN``) to take at most half the
    timeout, so a table started later might not finish; the run then commits what it has.
    """
    if context is None:
        return None
    return time.monotonic() + context.get_remaining_time_in_millis() / 1000 / 2


def _ingest(compare: DeleteGuard | None = None, context: Any = None) -> dict[str, Any]:
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
            snapshot_rows_per_run=config.snapshot_rows_per_run, deadline=_table_deadline(context),
        )  # fmt: skip
        summary = result.summary()
        fx = _fx_rates(store, ssm, connection, config.ssm_prefix, context)
        if fx is not None:
            summary["fx_rates"] = fx
    finally:
        connection.close()
    return summary


def _fx_rates(
    store: LakeStore, ssm: Any, connection: pg8000.native.Connection, ssm_prefix: str, context: Any
) -> dict[str, Any] | None:
    """The exchange-rate step, after the tables committed; its failure is logged and counted, never raised."""
    try:
        fx_config = FxRatesConfig.from_env()
        if fx_config.url_template is None:
            return None
        remaining = context.get_remaining_time_in_millis() / 1000 if context is not None else None
        deadline = time.monotonic() + remaining - FX_TIME_MARGIN_S if remaining is not None else None
        fx = run_fx_rates(
            store=store, ssm=ssm, connection=connection, ssm_prefix=ssm_prefix, api=RatesApi(fx_config),
            config=fx_config, clock=utc_now, deadline=deadline, metrics=metrics,
        )  # fmt: skip
    except Exception as exc:
        # ERROR: the error-lines alarm counts it; the tables are committed and the next run asks again.
        logger.error("exchange-rate step failed; the table run is committed", extra=failure_fields(exc))
        metrics.add_metric(name="FxRatesFailed", unit=MetricUnit.Count, value=1)
        return {"status": "failed", "error": str(exc)}
    metrics.add_metric(name="FxRatesFailed", unit=MetricUnit.Count, value=0)
    return fx.summary()
