"""The Lambda handler: env config, Secrets Manager credentials, failures fail the invocation."""

from __future__ import annotations

import dataclasses
import json

import pytest
from freezegun import freeze_time

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


def test_an_unreachable_database_fails_the_invocation(ingest) -> None:
    creds = ingest.pipeline.source.credentials
    unreachable = dataclasses.replace(creds, port=free_port())
    ingest.pipeline.aws.secretsmanager.put_secret_value(
        SecretId=ingest.pipeline.resources.source_db_secret, SecretString=unreachable.to_secret_string()
    )
    with pytest.raises(SourceConnectionError):
        lambda_handler({}, None)
    assert ingest.manifests() == []
    assert ingest.ssm("last_run_seq") == "0"
