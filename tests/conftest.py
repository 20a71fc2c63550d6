"""Fixtures on the real local stack: one PostgreSQL server and one moto server per
test session; a fresh totesys database, a fresh warehouse and fresh AWS resources
(buckets, SSM parameters, secrets) per test. Nothing of our own code is mocked.

Test levels (markers): unit tests use neither server; ``integration`` tests use the
stack. ``make test`` runs both.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pg8000.native
import pytest
from pg8000.native import identifier

from common.db import DbCredentials, connect
from local.aws_resources import PipelineResources, provision
from local.moto_server import REGION, MotoServer, start_moto
from local.paths import LOCAL_DIR
from local.postgres_server import PostgresServer, start_postgres
from local.stack import SOURCE_ROLE, WAREHOUSE_ROLE, create_source_database, create_warehouse_database

logging.getLogger("werkzeug").setLevel(logging.ERROR)

_SOURCE_TEMPLATE = "totesys_template"
_WAREHOUSE_TEMPLATE = "warehouse_template"


@dataclass
class TestStack:
    postgres: PostgresServer
    moto: MotoServer
    reader_password: str
    loader_password: str


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestStack]:
    """The session's servers: PostgreSQL (fsync off) and moto, stopped at the end."""
    root = LOCAL_DIR / "test" / f"{os.getpid()}-{uuid.uuid4().hex[:6]}"
    postgres = start_postgres(root / "pg", fast=True)
    moto: MotoServer | None = None
    try:
        reader_pw, loader_pw = uuid.uuid4().hex, uuid.uuid4().hex
        create_source_database(postgres, _SOURCE_TEMPLATE, reader_pw)
        create_warehouse_database(postgres, _WAREHOUSE_TEMPLATE, loader_pw)
        moto = start_moto()
        yield TestStack(postgres, moto, reader_pw, loader_pw)
    finally:
        if moto is not None:
            moto.stop()
        postgres.stop()
        postgres.remove_files()  # its data may live outside root (local.postgres_server.server_data_dir)
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class Database:
    """A fresh database: credentials for the pipeline's role, and an admin connection."""

    name: str
    credentials: DbCredentials
    admin: pg8000.native.Connection  # superuser: for tests to write or inspect freely

    def connect(self) -> pg8000.native.Connection:
        return connect(self.credentials, "totes-test")


def _fresh_database(stack: TestStack, template: str, role: str, password: str, owner: str | None) -> Iterator[Database]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = stack.postgres.connect()
    owner_clause = f" OWNER {identifier(owner)}" if owner else ""
    admin.run(f"CREATE DATABASE {identifier(name)} TEMPLATE {identifier(template)}{owner_clause}")
    admin.run(f"GRANT CONNECT ON DATABASE {identifier(name)} TO {identifier(role)}")
    admin.close()
    db_admin = stack.postgres.connect(name)
    creds = stack.postgres.credentials(name, role, password)
    try:
        yield Database(name, creds, db_admin)
    finally:
        db_admin.close()
        admin = stack.postgres.connect()
        admin.run(f"DROP DATABASE IF EXISTS {identifier(name)} WITH (FORCE)")
        admin.close()


@pytest.fixture
def source_db(stack: TestStack) -> Iterator[Database]:
    """An empty totesys (SPEC §1 schema); the pipeline's credentials are read-only."""
    yield from _fresh_database(stack, _SOURCE_TEMPLATE, SOURCE_ROLE, stack.reader_password, owner=None)


@pytest.fixture
def second_source_db(stack: TestStack) -> Iterator[Database]:
    """Another empty totesys, for tests that compare two databases (e.g. determinism)."""
    yield from _fresh_database(stack, _SOURCE_TEMPLATE, SOURCE_ROLE, stack.reader_password, owner=None)


@pytest.fixture
def warehouse_db(stack: TestStack) -> Iterator[Database]:
    """A migrated, empty warehouse owned by the loader role."""
    yield from _fresh_database(stack, _WAREHOUSE_TEMPLATE, WAREHOUSE_ROLE, stack.loader_password, owner=WAREHOUSE_ROLE)


@dataclass
class AwsClients:
    s3: Any
    ssm: Any
    secretsmanager: Any
    cloudwatch: Any


@pytest.fixture
def aws(stack: TestStack, monkeypatch: pytest.MonkeyPatch) -> AwsClients:
    """moto, emptied before the test; boto3 in this process points at it."""
    stack.moto.reset()
    for key, value in stack.moto.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "TotesPipelineTest")

    def client(name: str) -> Any:
        return boto3.client(name, region_name=REGION, endpoint_url=stack.moto.endpoint)

    return AwsClients(client("s3"), client("ssm"), client("secretsmanager"), client("cloudwatch"))


@dataclass
class Pipeline:
    """Everything a stage needs to run against the stack, as the Lambda would see it."""

    resources: PipelineResources
    aws: AwsClients
    source: Database
    warehouse: Database


@pytest.fixture
def pipeline(aws: AwsClients, source_db: Database, warehouse_db: Database, monkeypatch: pytest.MonkeyPatch) -> Pipeline:
    """Clean buckets, state and secrets for one pipeline; handler env vars set."""
    resources = PipelineResources.for_prefix(f"t{uuid.uuid4().hex[:8]}")
    provision(
        s3=aws.s3,
        ssm=aws.ssm,
        secretsmanager=aws.secretsmanager,
        resources=resources,
        source=source_db.credentials,
        warehouse=warehouse_db.credentials,
    )
    for key, value in resources.handler_env().items():
        monkeypatch.setenv(key, value)
    return Pipeline(resources, aws, source_db, warehouse_db)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Anything that uses a stack fixture is an integration test."""
    stack_fixtures = {"stack", "source_db", "warehouse_db", "aws", "pipeline"}
    for item in items:
        if stack_fixtures & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]


HANDLERS = {
    "ingestion": "ingestion.handler.lambda_handler",
    "transform": "transform.handler.lambda_handler",
    "load": "load.handler.lambda_handler",
}


@dataclass
class DeployedHandlers:
    """The three real handlers registered as functions in moto (named ``<prefix>-<stage>``)."""

    lambda_client: Any
    prefix: str
    arns: dict[str, str]

    def function_name(self, stage: str) -> str:
        return f"{self.prefix}-{stage}"


def _placeholder_zip() -> bytes:
    # moto stores the code but cannot run it (no Docker): the local runner imports the
    # handler named by the function's Handler attribute instead.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("placeholder.py", "")
    return buf.getvalue()


@pytest.fixture
def deployed_handlers(pipeline: Pipeline, stack: TestStack) -> DeployedHandlers:
    """The handlers as Lambda functions in moto, with the S3 notification wiring of
    terraform/events.tf (runs/*.json in the ingest bucket -> transform, in the processed
    bucket -> load), for tests that drive the pipeline through local.runner without the
    slower Terraform apply (the wiring test and make run use the real Terraform)."""
    res = pipeline.resources
    iam = boto3.client("iam", region_name=REGION, endpoint_url=stack.moto.endpoint)
    lam = boto3.client("lambda", region_name=REGION, endpoint_url=stack.moto.endpoint)
    prefix = uuid.uuid4().hex[:6]
    role = iam.create_role(RoleName=f"role-{prefix}", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    arns = {
        stage: lam.create_function(
            FunctionName=f"{prefix}-{stage}",
            Runtime="python3.11",
            Role=role,
            Handler=handler,
            Code={"ZipFile": _placeholder_zip()},
            Timeout=900,
            Environment={"Variables": res.handler_env()},
        )["FunctionArn"]
        for stage, handler in HANDLERS.items()
    }
    rules = [{"Name": "prefix", "Value": "runs/"}, {"Name": "suffix", "Value": ".json"}]
    for bucket, stage in ((res.ingest_bucket, "transform"), (res.processed_bucket, "load")):
        config = {
            "Id": stage,
            "LambdaFunctionArn": arns[stage],
            "Events": ["s3:ObjectCreated:*"],
            "Filter": {"Key": {"FilterRules": rules}},
        }
        pipeline.aws.s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration={"LambdaFunctionConfigurations": [config]}
        )
    return DeployedHandlers(lam, prefix, arns)
