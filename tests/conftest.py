"""Fixtures on the real local stack: one PostgreSQL server and one moto server per
test session (per xdist worker); a fresh totesys database, a fresh warehouse and fresh
AWS resources (buckets, SSM parameters, secrets) per test. Nothing of our own code is
mocked.

Isolation is by name, not by reset: every test's databases are copies of templates
built once per session (``CREATE DATABASE ... TEMPLATE``), and every AWS resource a
test creates carries a unique prefix (``PipelineResources.for_prefix``). moto is never
reset between tests: a reset costs seconds (moto reloads IAM's AWS-managed policies,
which the Terraform applies need) and would also wipe what other fixtures share.

Test levels (markers): unit tests use neither server; ``integration`` tests use the
stack. ``make test`` runs both.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import shutil
import uuid
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pg8000.exceptions
import pg8000.native
import pytest
from pg8000.native import identifier

from common.config import PipelineResources
from common.db import DbCredentials, connect
from local.aws_resources import provision
from local.moto_server import REGION, MotoServer, start_moto
from local.paths import LOCAL_DIR
from local.postgres_server import PostgresServer, start_postgres
from local.stack import SOURCE_ROLE, WAREHOUSE_ROLE, create_source_database, create_warehouse_database
from ops.runner import PipelineRunner

logging.getLogger("werkzeug").setLevel(logging.ERROR)

SOURCE_TEMPLATE = "totesys_template"
WAREHOUSE_TEMPLATE = "warehouse_template"


@dataclass
class TestStack:
    """The session's servers, and the one way to get isolated things on them.

    ``source_database()`` / ``warehouse_database()`` (context managers): a fresh copy of
    a template, dropped afterwards; ``aws_clients()``: boto3 on this moto;
    ``provision_pipeline(...)``: buckets, SSM state and secrets under a fresh prefix;
    ``deploy_handlers(...)``: the three handlers as Lambda functions wired to the buckets.
    The per-test fixtures below are built from these; a session fixture may use them too.
    """

    postgres: PostgresServer
    moto: MotoServer
    reader_password: str
    loader_password: str
    # Built once per session: a connection costs tens of ms, a boto3 client ~0.1 s.
    _admin: pg8000.native.Connection | None = field(default=None, init=False, repr=False)
    _clients: dict[str, Any] = field(default_factory=dict, init=False, repr=False)

    def admin_run(self, sql: str) -> None:
        """Run ``sql`` as the superuser on the ``postgres`` database (the session's connection)."""
        if self._admin is not None:
            try:
                self._admin.run(sql)
                return
            except (pg8000.exceptions.InterfaceError, OSError):  # a test killed it: connect again
                self._admin = None
        self._admin = self.postgres.connect()
        self._admin.run(sql)

    def clone_database(self, template: str, owner: str | None = None) -> str:
        """``CREATE DATABASE <fresh name> TEMPLATE template`` (a file copy); return the name."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        owner_clause = f" OWNER {identifier(owner)}" if owner else ""
        self.admin_run(f"CREATE DATABASE {identifier(name)} TEMPLATE {identifier(template)}{owner_clause}")
        return name

    def drop_database(self, name: str) -> None:
        self.admin_run(f"DROP DATABASE IF EXISTS {identifier(name)} WITH (FORCE)")

    @contextlib.contextmanager
    def source_database(self, template: str = SOURCE_TEMPLATE) -> Iterator[Database]:
        """A copy of ``template`` (an empty totesys by default), read-only for the pipeline."""
        with _fresh_database(self, template, SOURCE_ROLE, self.reader_password, owner=None) as db:
            yield db

    @contextlib.contextmanager
    def warehouse_database(self, template: str = WAREHOUSE_TEMPLATE) -> Iterator[Database]:
        """A copy of ``template`` (a migrated, empty warehouse by default), owned by the loader."""
        with _fresh_database(self, template, WAREHOUSE_ROLE, self.loader_password, owner=WAREHOUSE_ROLE) as db:
            yield db

    def client(self, service: str) -> Any:
        """A boto3 client on this moto, shared by the session (tests must not alter it)."""
        if service not in self._clients:
            self._clients[service] = boto3.client(service, region_name=REGION, endpoint_url=self.moto.endpoint)
        return self._clients[service]

    def aws_clients(self) -> AwsClients:
        return AwsClients(
            self.client("s3"), self.client("ssm"), self.client("secretsmanager"), self.client("cloudwatch")
        )

    def provision_pipeline(self, aws: AwsClients, source: Database, warehouse: Database) -> Pipeline:
        """Buckets, SSM state and secrets under a fresh prefix, for ``source`` and ``warehouse``."""
        resources = PipelineResources.for_prefix(f"t{uuid.uuid4().hex[:8]}")
        provision(
            s3=aws.s3,
            ssm=aws.ssm,
            secretsmanager=aws.secretsmanager,
            resources=resources,
            source=source.credentials,
            warehouse=warehouse.credentials,
        )
        return Pipeline(resources, aws, source, warehouse)

    def deploy_handlers(self, pipeline: Pipeline) -> DeployedHandlers:
        """The handlers as Lambda functions in moto, with the S3 notification wiring of
        terraform/events.tf (runs/*.json in the ingest bucket -> transform, in the processed
        bucket -> load), for tests that drive the pipeline through ops.runner without the
        slower Terraform apply (the wiring test and make run use the real Terraform)."""
        res = pipeline.resources
        iam, lam = self.client("iam"), self.client("lambda")
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

    def aws_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Point boto3 in this process (the handlers' clients too) at this moto."""
        for key, value in self.moto.env().items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "TotesPipelineTest")


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestStack]:
    """The session's servers: PostgreSQL (fsync off) and moto, stopped at the end."""
    root = LOCAL_DIR / "test" / f"{os.getpid()}-{uuid.uuid4().hex[:6]}"
    postgres = start_postgres(root / "pg", fast=True)
    moto: MotoServer | None = None
    try:
        reader_pw, loader_pw = uuid.uuid4().hex, uuid.uuid4().hex
        create_source_database(postgres, SOURCE_TEMPLATE, reader_pw)
        create_warehouse_database(postgres, WAREHOUSE_TEMPLATE, loader_pw)
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


@contextlib.contextmanager
def _fresh_database(stack: TestStack, template: str, role: str, password: str, owner: str | None) -> Iterator[Database]:
    name = stack.clone_database(template, owner)
    stack.admin_run(f"GRANT CONNECT ON DATABASE {identifier(name)} TO {identifier(role)}")
    creds = stack.postgres.credentials(name, role, password)
    db = Database(name, creds, stack.postgres.connect(name))
    try:
        yield db
    finally:
        db.admin.close()
        stack.drop_database(name)


@pytest.fixture
def source_db(stack: TestStack) -> Iterator[Database]:
    """An empty totesys (SPEC §1 schema); the pipeline's credentials are read-only."""
    with stack.source_database() as db:
        yield db


@pytest.fixture
def second_source_db(stack: TestStack) -> Iterator[Database]:
    """Another empty totesys, for tests that compare two databases (e.g. determinism)."""
    with stack.source_database() as db:
        yield db


@pytest.fixture
def warehouse_db(stack: TestStack) -> Iterator[Database]:
    """A migrated, empty warehouse owned by the loader role."""
    with stack.warehouse_database() as db:
        yield db


@pytest.fixture
def bare_warehouse(stack: TestStack, pipeline: Pipeline) -> Iterator[Database]:
    """An empty database owned by the loader role, never migrated, named by the pipeline's warehouse
    secret: a new deployment's warehouse before its migration step (``{"action": "migrate"}``)."""
    with _fresh_database(stack, "template1", WAREHOUSE_ROLE, stack.loader_password, owner=WAREHOUSE_ROLE) as db:
        pipeline.aws.secretsmanager.put_secret_value(
            SecretId=pipeline.resources.warehouse_db_secret, SecretString=db.credentials.to_secret_string()
        )
        yield db


@dataclass
class AwsClients:
    s3: Any
    ssm: Any
    secretsmanager: Any
    cloudwatch: Any


@pytest.fixture
def aws(stack: TestStack, monkeypatch: pytest.MonkeyPatch) -> AwsClients:
    """The session's moto (shared, never reset: create resources under a unique name);
    boto3 in this process points at it."""
    stack.aws_environment(monkeypatch)
    return stack.aws_clients()


@dataclass
class Pipeline:
    """Everything a stage needs to run against the stack, as the Lambda would see it."""

    resources: PipelineResources
    aws: AwsClients
    source: Database
    warehouse: Database


@pytest.fixture
def pipeline(
    stack: TestStack, aws: AwsClients, source_db: Database, warehouse_db: Database, monkeypatch: pytest.MonkeyPatch
) -> Pipeline:
    """Clean buckets, state and secrets for one pipeline (a fresh prefix); handler env vars set."""
    pipeline = stack.provision_pipeline(aws, source_db, warehouse_db)
    for key, value in pipeline.resources.handler_env().items():
        monkeypatch.setenv(key, value)
    return pipeline


@pytest.hookimpl(tryfirst=True)  # before xdist reads the xdist_group marks (--dist loadgroup)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Anything that uses a stack fixture is an integration test.

    Under xdist every worker builds its own copy of each session/module/class fixture.
    That is right for fixtures many test files use (the stack, the fault suite's first
    cycle): each worker needs them anyway. A fixture that only one file's tests share (a
    Terraform apply, a built zip) would be built twice for nothing, so those tests are
    grouped onto one worker, in file order (``make test`` runs ``--dist loadgroup``).
    """
    stack_fixtures = {"stack", "source_db", "warehouse_db", "aws", "pipeline"}
    files_using: dict[int, set[str]] = {}
    shared: dict[str, list[Any]] = {}
    for item in items:
        if stack_fixtures & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)
        fixture_info = getattr(item, "_fixtureinfo", None)
        chains = fixture_info.name2fixturedefs.values() if fixture_info is not None else ()
        shared[item.nodeid] = [d for chain in chains for d in chain if d.scope != "function"]
        for d in shared[item.nodeid]:
            files_using.setdefault(id(d), set()).add(item.nodeid.split("::", 1)[0])
    for item in items:
        file = item.nodeid.split("::", 1)[0]
        if any(files_using[id(d)] == {file} for d in shared[item.nodeid]):
            item.add_marker(pytest.mark.xdist_group(file))


# trylast: after every conftest has put its xdist_group marks and ordered its own items.
@pytest.hookimpl(trylast=True, specname="pytest_collection_modifyitems")
def pytest_collection_modifyitems_longest_first(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under xdist, the longest work units first: the units holding a ``slow`` test, the groups
    (a shared fixture's tests) among them by size, then everything else in file order.

    xdist hands the units out in this order (``pytest_xdist_make_scheduler``) to whichever
    worker is free, so the slowest items start at once, side by side, and the run ends on
    many short tests that keep every worker busy to the end. Without xdist nothing moves.
    """
    if not hasattr(config, "workerinput"):
        return
    units: dict[str, list[pytest.Item]] = {}
    for item in items:
        units.setdefault(_work_unit(item), []).append(item)

    def longest_first(unit: list[pytest.Item]) -> tuple[bool, int]:
        slow = any(item.get_closest_marker("slow") for item in unit)
        return (not slow, -len(unit) if slow else 0)

    items[:] = [item for unit in sorted(units.values(), key=longest_first) for item in unit]


def _work_unit(item: pytest.Item) -> str:
    """What ``--dist loadgroup`` keeps on one worker: the item's xdist_group, else the item alone."""
    group = item.get_closest_marker("xdist_group")
    return f"@{group.args[0] if group.args else group.kwargs['name']}" if group else item.nodeid


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadgroup`` that hands out the units in collection order (the order above),
    not xdist's default of the units with the most tests first."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    config.option.loadscopereorder = False
    return LoadGroupScheduling(config, log)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """``-n auto``: one worker per core, plus one.

    Part of the suite waits rather than computes: the Terraform provider polls moto on
    fixed delays (an RDS instance, S3 lifecycle rules), a browser renders, a server
    starts. One more worker than cores keeps the cores busy meanwhile; each worker costs
    its own servers and session fixtures (docs/testing.md, "Run time").
    ``PYTEST_XDIST_AUTO_NUM_WORKERS`` still decides when it is set (xdist's own hook).
    """
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None
    return len(os.sched_getaffinity(0)) + 1


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

    def runner(self, pipeline: Pipeline, log_sink: io.TextIOBase | None = None) -> PipelineRunner:
        """A runner playing the schedule and the S3 notifications against these handlers in
        ``pipeline``'s buckets; the handlers' output goes to ``log_sink`` (None: a fresh StringIO)."""
        res = pipeline.resources
        return PipelineRunner(
            s3=pipeline.aws.s3,
            lambda_client=self.lambda_client,
            ingestion_function=self.function_name("ingestion"),
            buckets=[res.ingest_bucket, res.processed_bucket],
            region=REGION,
            log_sink=io.StringIO() if log_sink is None else log_sink,
            load_function=self.function_name("load"),
        )


def _placeholder_zip() -> bytes:
    # moto stores the code but cannot run it (no Docker): the local runner imports the
    # handler named by the function's Handler attribute instead.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("placeholder.py", "")
    return buf.getvalue()


@pytest.fixture
def deployed_handlers(pipeline: Pipeline, stack: TestStack) -> DeployedHandlers:
    """The real handlers deployed to this test's pipeline (``TestStack.deploy_handlers``)."""
    return stack.deploy_handlers(pipeline)


OutputsWriter = Callable[..., Path]


@pytest.fixture
def write_outputs(tmp_path: Path) -> OutputsWriter:
    """Writes what ``terraform output -json > outputs.json`` gives for a deployment (the names ops reads).

    ``write_outputs(resources, functions={"load": name, ...})`` returns the file's path.
    """

    def write(resources: PipelineResources, functions: Mapping[str, str] | None = None) -> Path:
        values = {
            "ingest_bucket_name": resources.ingest_bucket,
            "processed_bucket_name": resources.processed_bucket,
            "ssm_prefix": resources.ssm_prefix,
            "source_db_secret_name": resources.source_db_secret,
            "warehouse_db_secret_name": resources.warehouse_db_secret,
            "aws_region": REGION,
            **{f"{stage}_function_name": name for stage, name in (functions or {}).items()},
        }
        path = tmp_path / "outputs.json"
        path.write_text(json.dumps({k: {"sensitive": False, "type": "string", "value": v} for k, v in values.items()}))
        return path

    return write


MetricsReader = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def emitted_metrics(capsys: pytest.CaptureFixture[str]) -> MetricsReader:
    """The EMF objects the handlers printed since the last read (Powertools writes metrics to stdout)."""

    def read() -> list[dict[str, Any]]:
        return [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]

    return read
