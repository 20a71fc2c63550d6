"""docs/operations.md, "First deployment of an account", performed against moto.

Steps 1 to 3 (the state bucket, the settings, ``make deploy``'s apply) are the infra
tests' shared deployment (conftest.py: with every option on, the state in the
bootstrapped bucket). This test goes on as the document does:

4. the warehouse's loader role, created by the master user with
   ``sql/setup/create_loader.sql`` through psql (moto cannot run RDS's PostgreSQL:
   a fresh database of the local server, with its superuser as the master, stands
   in for the instance);
5. both secrets, with the documented JSON;
6. the migrations: ``totes migrate --outputs outputs.json``, what ``make deploy``
   runs after the apply (the load function's migrate action);
7. the first run: ingestion invoked once; transform and load follow through the S3
   notifications the Terraform wired (ops.runner, handlers in this process); the
   warehouse then reconciles with totesys;
8. the alarms: every one notifies the topic the subscriber was asked to confirm,
   and forcing one into ALARM (the document's check) works.

Then a second ``make deploy`` (apply + migrate) changes nothing the pipeline owns:
the ingestion state stays where the first run left it, the warehouse keeps its rows.
"""

from __future__ import annotations

import json
import os
import subprocess  # nosec B404 - psql with list arguments, as the document runs it
import uuid
from pathlib import Path
from typing import Any

import pytest
from pg8000.native import identifier
from typer.testing import CliRunner

from cli.main import app
from common.db import connect
from local.generator import seed_database
from local.moto_server import REGION
from local.paths import REPO_ROOT
from local.terraform_local import apply_local
from ops.reconcile import reconcile
from ops.runner import PipelineRunner, overlay_environ

pytestmark = [pytest.mark.slow, pytest.mark.integration]

CREATE_LOADER_SQL = REPO_ROOT / "sql" / "setup" / "create_loader.sql"


def _create_loader(stack: Any, database: str, loader: str, password: str) -> None:
    """Step 4 as documented: psql, the master's login, the password from the environment."""
    server = stack.postgres
    conninfo = (
        f"host={server.host} port={server.port} dbname={database} user={server.user} "
        f"sslmode=verify-full sslrootcert={server.ca_file}"
    )
    env = {**os.environ, "PGPASSWORD": server.password, "LOADER_PASSWORD": password}
    result = subprocess.run(
        ["psql", conninfo, "-v", f"loader={loader}", "-f", str(CREATE_LOADER_SQL)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert password not in result.stdout + result.stderr


def _terraform_output_json(deployed: Any, path: Path) -> Path:
    """What ``terraform output -json > outputs.json`` writes."""
    path.write_text(json.dumps({name: {"value": value} for name, value in deployed.outputs.items()}))
    return path


def _migrate(outputs_file: Path) -> str:
    result = CliRunner().invoke(app, ["migrate", "--outputs", str(outputs_file)])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_new_account_reaches_a_running_pipeline_as_documented(
    deployed: Any, stack: Any, source_db: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = deployed.outputs
    secrets = deployed.client("secretsmanager")

    # 4. The loader role, created once by the master; it owns the warehouse database.
    warehouse_db, loader, loader_password = (
        f"wh_{uuid.uuid4().hex[:10]}",
        f"loader_{uuid.uuid4().hex[:8]}",
        uuid.uuid4().hex,
    )
    stack.admin_run(f"CREATE DATABASE {identifier(warehouse_db)}")  # RDS creates it at launch (db_name)
    try:
        _create_loader(stack, warehouse_db, loader, loader_password)
        loader_credentials = stack.postgres.credentials(warehouse_db, loader, loader_password)
        admin = stack.postgres.connect(warehouse_db)
        try:
            [(owner, public_may_connect)] = admin.run(
                "SELECT pg_get_userbyid(datdba), has_database_privilege('public', datname, 'CONNECT')"
                " FROM pg_database WHERE datname = current_database()"
            )
            [(superuser, createdb, createrole)] = admin.run(
                "SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = :r", r=loader
            )
        finally:
            admin.close()
        assert (owner, public_may_connect) == (loader, False)
        assert (superuser, createdb, createrole) == (False, False, False)

        # 5. Both secrets, as documented (sslmode verify-full; here the local CA to trust).
        secrets.put_secret_value(
            SecretId=out["source_db_secret_name"], SecretString=source_db.credentials.to_secret_string()
        )
        secrets.put_secret_value(
            SecretId=out["warehouse_db_secret_name"], SecretString=loader_credentials.to_secret_string()
        )

        # The handlers and the CLI in this process reach the deployment's moto.
        for key, value in deployed.moto.env().items():
            monkeypatch.setenv(key, value)
        # moto would also try to run each notified function in docker: the runner delivers them.
        monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/totes-no-docker.sock")

        # 6. The migrations, through the load function.
        outputs_file = _terraform_output_json(deployed, tmp_path / "outputs-dev.json")
        _migrate(outputs_file)
        warehouse = connect(loader_credentials, "totes-test")
        try:
            applied = [v for (v,) in warehouse.run("SELECT version FROM pipeline.schema_migrations ORDER BY version")]
        finally:
            warehouse.close()
        assert applied == sorted(p.stem for p in (REPO_ROOT / "sql" / "warehouse").glob("[0-9][0-9][0-9]_*.sql"))

        # 7. The first run: one ingestion invocation, the rest by the wired notifications.
        seeded = seed_database(source_db.admin, seed=11, scale=0.05)
        runner = PipelineRunner(
            s3=deployed.client("s3"),
            lambda_client=deployed.client("lambda"),
            ingestion_function=out["ingestion_function_name"],
            buckets=[out["ingest_bucket_name"], out["processed_bucket_name"]],
            region=REGION,
            sqs=deployed.client("sqs"),
            failure_queue_url=out["failure_queue_url"],
            log_sink=(tmp_path / "handlers.log").open("w"),
        )
        with overlay_environ(deployed.moto.env()):
            cycle = runner.run_cycle()
        assert cycle.ok, [(i.function, i.error) for i in cycle.failures]
        assert {i.function for i in cycle.invocations} == {
            out[f"{stage}_function_name"] for stage in ("ingestion", "transform", "load")
        }
        source, warehouse = source_db.connect(), connect(loader_credentials, "totes-test")
        try:
            report = reconcile(source, warehouse)
            [(orders,)] = warehouse.run("SELECT count(*) FROM fact_sales_order")
        finally:
            source.close()
            warehouse.close()
        assert report.ok, report.differences[:5]
        assert orders >= seeded["sales_order"] > 0

        # 8. Alarms: all notify the topic; the subscriber was asked to confirm; one forced into ALARM.
        cloudwatch, sns = deployed.client("cloudwatch"), deployed.client("sns")
        alarms = cloudwatch.describe_alarms(AlarmNamePrefix=f"totes-{deployed.env}-")["MetricAlarms"]
        assert alarms
        assert all(out["sns_topic_arn"] in a["AlarmActions"] for a in alarms)
        [subscription] = sns.list_subscriptions_by_topic(TopicArn=out["sns_topic_arn"])["Subscriptions"]
        assert subscription["Protocol"] == "email"
        freshness = f"totes-{deployed.env}-freshness"
        cloudwatch.set_alarm_state(AlarmName=freshness, StateValue="ALARM", StateReason="first deployment: alarm check")
        [forced] = cloudwatch.describe_alarms(AlarmNames=[freshness])["MetricAlarms"]
        assert forced["StateValue"] == "ALARM"

        # A second `make deploy` (apply + migrate) leaves what the pipeline owns alone.
        ssm = deployed.client("ssm")
        state = {name: ssm.get_parameter(Name=name)["Parameter"]["Value"] for name in deployed.ssm_after_deploy}
        assert state != deployed.ssm_after_deploy  # the first run advanced it
        apply_local(deployed.moto.endpoint, env=deployed.env, workdir=deployed.workdir)
        assert "up to date" in _migrate(outputs_file)
        assert {name: ssm.get_parameter(Name=name)["Parameter"]["Value"] for name in state} == state
        warehouse = connect(loader_credentials, "totes-test")
        try:
            assert warehouse.run("SELECT count(*) FROM fact_sales_order") == [[orders]]
        finally:
            warehouse.close()
    finally:
        stack.drop_database(warehouse_db)
        stack.admin_run(f"DROP ROLE IF EXISTS {identifier(loader)}")
