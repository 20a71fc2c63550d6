"""The warehouse schema in a deployment: applied by the load function's ``{"action": "migrate"}``,
checked before every load.

The path is the deploy's: ``totes migrate --outputs outputs.json`` reads Terraform-style
outputs, finds the load function in moto and, as moto cannot run code, calls the
handler that function names in this process with the real event; the handler reads the
warehouse secret from moto and migrates the real PostgreSQL over verify-full TLS.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli.main import app
from common.db import connect
from common.errors import UnknownActionError
from load.handler import lambda_handler as load_handler
from load.schema import WarehouseSchemaError, applied_versions, discover, migrate

ALL_VERSIONS = [m.version for m in discover()]


@pytest.fixture
def outputs_file(pipeline, deployed_handlers, write_outputs) -> Path:
    stages = ("ingestion", "transform", "load")
    return write_outputs(pipeline.resources, {stage: deployed_handlers.function_name(stage) for stage in stages})


def _tables(stack, db) -> set[str]:
    con = stack.postgres.connect(db.name)
    try:
        rows = con.run("SELECT table_schema || '.' || table_name FROM information_schema.tables"
                       " WHERE table_schema IN ('public', 'pipeline')")  # fmt: skip
    finally:
        con.close()
    return {r[0] for r in rows}


def _versions(stack, db) -> list[str]:
    con = stack.postgres.connect(db.name)
    try:
        return sorted(applied_versions(con))
    finally:
        con.close()


def test_totes_migrate_outputs_migrates_through_the_load_function_and_is_idempotent(
    stack, bare_warehouse, outputs_file
) -> None:
    assert _tables(stack, bare_warehouse) == set()
    first = CliRunner().invoke(app, ["migrate", "--outputs", str(outputs_file)])
    assert first.exit_code == 0, first.output
    assert "applied (in-process" in first.output
    assert ALL_VERSIONS[0] in first.output
    assert _versions(stack, bare_warehouse) == ALL_VERSIONS
    assert {"public.fact_sales_order", "public.dim_date", "pipeline.load_ledger"} <= _tables(stack, bare_warehouse)

    again = CliRunner().invoke(app, ["migrate", "--outputs", str(outputs_file)])
    assert again.exit_code == 0, again.output
    assert "warehouse schema is up to date" in again.output
    assert _versions(stack, bare_warehouse) == ALL_VERSIONS


def test_totes_migrate_direct_connects_with_the_secret_named_in_the_outputs(
    stack, bare_warehouse, outputs_file
) -> None:
    result = CliRunner().invoke(app, ["migrate", "--outputs", str(outputs_file), "--direct"])
    assert result.exit_code == 0, result.output
    assert f"direct {bare_warehouse.credentials.host}:{bare_warehouse.credentials.port}" in result.output
    assert _versions(stack, bare_warehouse) == ALL_VERSIONS


def test_a_load_against_an_unmigrated_warehouse_fails_before_touching_data(stack, bare_warehouse) -> None:
    with pytest.raises(WarehouseSchemaError) as err:
        load_handler({}, None)
    message = str(err.value)
    assert ", ".join(ALL_VERSIONS) in message
    assert "totes migrate --outputs outputs.json" in message
    assert "nothing was loaded" in message
    assert _tables(stack, bare_warehouse) == set()  # not even the bookkeeping schema


def test_a_load_against_a_warehouse_one_migration_behind_names_it(stack, bare_warehouse, tmp_path) -> None:
    older = tmp_path / "older"
    older.mkdir()
    for m in discover()[:-1]:
        shutil.copy(m.path, older / m.path.name)
    con = connect(bare_warehouse.credentials, "test-older-deploy")  # as the loader, like the deploy's migration
    try:
        migrate(con, older)
        ledger_before = con.run("SELECT count(*) FROM pipeline.load_ledger")
    finally:
        con.close()
    with pytest.raises(WarehouseSchemaError, match=rf"migration\(s\) {ALL_VERSIONS[-1]} not applied"):
        load_handler({}, None)
    con = stack.postgres.connect(bare_warehouse.name)
    try:
        assert con.run("SELECT count(*) FROM pipeline.load_ledger") == ledger_before
    finally:
        con.close()
    # The deploy's step brings it up to date; the load then runs (nothing pending yet).
    assert load_handler({"action": "migrate"}, None) == {"action": "migrate", "applied": [ALL_VERSIONS[-1]]}
    assert load_handler({}, None)["run_seqs"] == []


def test_concurrent_migrations_apply_each_version_once(stack, bare_warehouse) -> None:
    answers: list[dict] = []
    errors: list[BaseException] = []

    def migrate_once() -> None:
        try:
            answers.append(load_handler({"action": "migrate"}, None))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=migrate_once) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert errors == []
    applied = sorted(v for a in answers for v in a["applied"])
    assert applied == ALL_VERSIONS  # each version applied by exactly one of the three
    assert _versions(stack, bare_warehouse) == ALL_VERSIONS


def test_an_unknown_action_fails_loudly(pipeline, emitted_metrics: Any) -> None:
    with pytest.raises(UnknownActionError, match="unknown load event action 'migrat'"):
        load_handler({"action": "migrat"}, None)
    (emf,) = emitted_metrics()  # never an invocation with no metrics
    assert (emf["InvocationsFailed"], emf["failure_kind"]) == ([1.0], "fatal")


def test_a_failing_migration_exits_non_zero_naming_the_file_and_applies_nothing(
    stack, bare_warehouse, outputs_file
) -> None:
    con = stack.postgres.connect(bare_warehouse.name)
    try:  # something in the way of 001's first table
        con.run(f"CREATE TABLE dim_date (x int); ALTER TABLE dim_date OWNER TO {bare_warehouse.credentials.username}")
    finally:
        con.close()
    result = CliRunner().invoke(app, ["migrate", "--outputs", str(outputs_file)])
    assert result.exit_code == 1, result.output
    said = " ".join(result.output.split())
    assert f"failed to migrate the warehouse: migration {ALL_VERSIONS[0]}.sql failed" in said
    assert 'relation "dim_date" already exists' in said
    assert _versions(stack, bare_warehouse) == []


def test_migrate_before_the_warehouse_secret_is_set_says_so(pipeline, bare_warehouse, outputs_file, recwarn) -> None:
    """The first `make deploy` of an account: the secret exists (Terraform) but holds no credentials yet."""
    secret = pipeline.resources.warehouse_db_secret
    pipeline.aws.secretsmanager.put_secret_value(SecretId=secret, SecretString="{}")
    result = CliRunner().invoke(app, ["migrate", "--outputs", str(outputs_file)])
    assert result.exit_code == 1, result.output
    said = " ".join(result.output.split())
    assert "failed to migrate the warehouse" in said
    assert f"secret '{secret}' is not a database secret" in said
    assert "Traceback" not in result.output
    assert not [w for w in recwarn if "No application metrics" in str(w.message)]  # MigrationsFailed was published
