"""The Lambda handler: env config, Secrets Manager credentials, failures fail the invocation."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from freezegun import freeze_time

from common.config import ConfigError
from common.errors import UnknownActionError
from common.source_tables import UnknownTableError
from ingestion.errors import SourceConnectionError
from ingestion.handler import lambda_handler
from local.postgres_server import free_port


@freeze_time("2026-03-01T12:00:00.250Z", tick=True)
def test_the_handler_runs_an_ingestion_from_the_environment(ingest, monkeypatch) -> None:
    ingest.add_currency("GBP", ingest.clock.now.replace(hour=11))
    monkeypatch.setenv("SOURCE_TABLES", "currency, department")

    summary = lambda_handler({"source": "aws.scheduler"}, None)

    assert summary["status"] == "committed"
    assert summary["run_seq"] == 1
    assert summary["tables"] == {"currency": 1, "department": 0}
    json.dumps(summary)  # the return value must be JSON for Lambda
    (manifest,) = ingest.manifests()
    # The frozen clock ticks: on a loaded machine (and with the TLS login) the run starts seconds in.
    assert manifest["started_at"].startswith("2026-03-01T12:00:")
    assert set(manifest["tables"]) == {"currency", "department"}


def test_an_unknown_table_in_source_tables_is_rejected(ingest, monkeypatch) -> None:
    monkeypatch.setenv("SOURCE_TABLES", "currency,_prisma_migrations")
    with pytest.raises(UnknownTableError, match="_prisma_migrations"):
        lambda_handler({}, None)
    assert ingest.manifests() == []


def test_an_unknown_action_fails_and_runs_nothing(ingest, emitted_metrics: Any) -> None:
    ingest.add_currency("GBP", ingest.clock.now)
    with pytest.raises(UnknownActionError, match="unknown ingestion event action 'comapre'"):
        lambda_handler({"action": "comapre"}, None)  # a typo must not run an ordinary ingestion
    assert ingest.manifests() == []
    assert ingest.ssm("last_run_seq") == "0"
    (emf,) = emitted_metrics()  # a failed invocation still publishes its metrics, never an empty set
    assert (emf["InvocationsFailed"], emf["failure_kind"]) == ([1.0], "fatal")


def test_an_unreachable_database_fails_the_invocation(ingest, emitted_metrics: Any) -> None:
    creds = ingest.pipeline.source.credentials
    unreachable = dataclasses.replace(creds, port=free_port())
    ingest.pipeline.aws.secretsmanager.put_secret_value(
        SecretId=ingest.pipeline.resources.source_db_secret, SecretString=unreachable.to_secret_string()
    )
    with pytest.raises(SourceConnectionError):
        lambda_handler({}, None)
    assert ingest.manifests() == []
    assert ingest.ssm("last_run_seq") == "0"
    (emf,) = emitted_metrics()
    assert (emf["InvocationsFailed"], emf["failure_kind"]) == ([1.0], "retriable")


@pytest.mark.parametrize(
    ("variable", "value", "shown"),
    [
        ("LOOKBACK_SECONDS", "99999999999", "got 99999999999"),
        ("LOOKBACK_SECONDS", "-5", "got -5"),
        ("LOOKBACK_SECONDS", "15m", "got '15m'"),
        ("FUTURE_TOLERANCE_SECONDS", "-1", "got -1"),
    ],
)
def test_a_bad_setting_fails_before_any_connection_naming_the_variable_and_its_range(
    ingest, monkeypatch, variable: str, value: str, shown: str
) -> None:
    """The old code opened the connection first, then died with a raw OverflowError/ValueError.

    The secret points at a closed port: had the handler connected first, this would be a
    SourceConnectionError, not the configuration error.
    """
    unreachable = dataclasses.replace(ingest.pipeline.source.credentials, port=free_port())
    ingest.pipeline.aws.secretsmanager.put_secret_value(
        SecretId=ingest.pipeline.resources.source_db_secret, SecretString=unreachable.to_secret_string()
    )
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as raised:
        lambda_handler({}, None)
    assert str(raised.value) == f"environment variable {variable} must be an integer from 0 to 86400, {shown}"
    assert ingest.manifests() == []
