"""The fault-injection world: the real pipeline, deployed to moto, on a real totesys.

Every scenario in this folder gets a ``world``: the three real handlers registered as
Lambda functions in moto, the S3 notification wiring of ``terraform/events.tf``
(``runs/*.json`` on the ingest bucket -> transform, on the processed bucket -> load),
a ``ops.runner.PipelineRunner`` that delivers real S3 event payloads to them, and a
seeded totesys. Scenarios break something at a boundary we do not own and then let
the at-least-once world recover (Lambda's async retry, the next scheduled cycle, a
sweep ``{}``); ``World.verify`` is the verdict every scenario ends with:

* ``ops.reconcile`` finds no difference (zero lost rows, zero duplicate fact
  versions, every dimension equal to its independent derivation from the source);
* every fact version any committed ingestion run carried (a comparison's deletions
  included) is in the warehouse exactly
  once (history, not only the latest version);
* no lake object was overwritten: in both (versioned) buckets every key has exactly
  one version and there is no delete marker;
* every stage caught up: ingest runs 1..N, processed runs 1..N, ledger 1..N.

Faults are injected only at boundaries we do not own: ``boto3.client`` is wrapped so
that the clients the handlers build raise (or run an action) on chosen calls; the
databases are stopped by pointing a secret at a closed port or killed with
``pg_terminate_backend``; the load stage's own test seams (``LoadHooks``) are used
where a step boundary is inside a database transaction.
"""

from __future__ import annotations

import gzip
import io
import json
import socket
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import botocore.client
import pytest
from botocore.exceptions import ClientError

from common.db import DbCredentials
from common.s3_store import LakeStore
from lake.keys import committed_runs
from local.aws_resources import put_db_secrets
from local.generator import seed_database
from local.moto_server import REGION
from local.simulator import ChangeReport, simulate_changes
from ops.reconcile import Difference, ReconcileReport, reconcile
from ops.runner import CycleResult, Invocation, PipelineRunner, s3_event, scheduled_event

SOURCE_TEMPLATE = "totesys_template"  # tests/conftest.py creates it once per session
SCALE = 0.05  # 250 sales orders (the generator's minimum is 200): every table, every hard case
FACT_SOURCES = {"sales_order": "fact_sales_order", "purchase_order": "fact_purchase_order", "payment": "fact_payment"}


# -- faults at the AWS boundary ----------------------------------------------------------


class InjectedCrashError(Exception):
    """Stands for the Lambda process dying at the injected point."""


@dataclass
class Fault:
    """One fault: on matching calls of ``service.operation``, fail (or act) ``times`` times.

    Attributes
    ----------
    service, operation
        boto3 service name and API operation, e.g. ``"s3"``, ``"PutObject"``.
    match
        Predicate over the call's keyword arguments (``Key``, ``Name``, ...).
    when
        ``"before"``: the call never happens; ``"after"``: it succeeds, then we crash
        (the effect is durable but the caller never learns it).
    skip
        Matching calls let through before the fault starts firing.
    times
        How many matching calls fail after ``skip``; later ones succeed (a retry heals).
    error
        Builds the exception to raise; default ``InjectedCrashError``.
    action
        If given, called instead of raising (e.g. kill a database backend, start a
        concurrent invocation); the call then proceeds.
    """

    service: str
    operation: str
    match: Callable[[dict[str, Any]], bool] = lambda kwargs: True
    when: str = "before"
    skip: int = 0
    times: int = 1
    error: Callable[[str], BaseException] = InjectedCrashError
    action: Callable[[], None] | None = None
    seen: int = 0
    fired: int = 0

    def should_fire(self, service: str, operation: str, kwargs: dict[str, Any]) -> bool:
        if service != self.service or operation != self.operation or not self.match(kwargs):
            return False
        self.seen += 1
        if self.seen <= self.skip or self.fired >= self.times:
            return False
        self.fired += 1
        return True

    def trigger(self, what: str) -> None:
        if self.action is not None:
            self.action()
            return
        raise self.error(f"injected fault {self.when} {what}")


def _describe(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={params[k]!r}" for k in ("Bucket", "Key", "Name", "SecretId") if k in params)


@dataclass
class FaultPlan:
    """The faults in force, applied to every boto3 call the pipeline makes.

    The hook is botocore's ``BaseClient._make_api_call``, the one point every API call
    of every client passes (also the handlers' per-container cached clients, and the
    GetObject calls inside ``download_fileobj``). What it raises is what botocore
    raises when AWS fails after its own retries. The test's own clients (listing,
    verifying) are exempt.
    """

    faults: list[Fault] = field(default_factory=list)
    exempt: set[int] = field(default_factory=set)

    def add(self, service: str, operation: str, **kwargs: Any) -> Fault:
        """Add a fault on ``service`` (``"s3"``, ``"ssm"``) API ``operation`` (``"PutObject"``)."""
        fault = Fault(service, operation, **kwargs)
        self.faults.append(fault)
        return fault

    def clear(self) -> None:
        self.faults.clear()

    @staticmethod
    def throttling(operation: str) -> Callable[[str], BaseException]:
        """An error factory: the ClientError an AWS API returns when it throttles a caller."""

        def build(_message: str) -> BaseException:
            return ClientError(
                {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}, "ResponseMetadata": {}},
                operation,
            )

        return build

    def call(self, client: Any, real: Callable[..., Any], operation: str, params: dict[str, Any]) -> Any:
        if id(client) in self.exempt or not self.faults:
            return real(client, operation, params)
        service = client.meta.service_model.service_name
        what = f"{service}.{operation}({_describe(params)})"
        firing = [f for f in self.faults if f.should_fire(service, operation, params)]
        for fault in firing:
            if fault.when == "before":
                fault.trigger(what)
        result = real(client, operation, params)
        for fault in firing:
            if fault.when == "after":
                fault.trigger(what)
        return result


@pytest.fixture
def faults(world: World, monkeypatch: pytest.MonkeyPatch) -> FaultPlan:
    """Fault injection for every boto3 call the pipeline makes (not the test's own)."""
    plan = FaultPlan()
    aws = world.pipeline.aws
    plan.exempt = {id(c) for c in (aws.s3, aws.ssm, aws.secretsmanager, aws.cloudwatch, world.runner.lambda_client)}
    real = botocore.client.BaseClient._make_api_call

    def make_api_call(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        return plan.call(self, real, operation_name, api_params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", make_api_call)
    return plan


# -- the world ---------------------------------------------------------------------------


@dataclass
class World:
    """A deployed pipeline on a seeded totesys, and the means to drive and judge it."""

    pipeline: Any
    stack: Any
    runner: PipelineRunner
    functions: dict[str, str]  # stage -> function name
    log: io.StringIO
    seed_no: int = 1

    # -- the source ------------------------------------------------------------------
    @property
    def admin(self) -> Any:
        """Superuser connection to totesys (the application's writes, schema changes)."""
        return self.pipeline.source.admin

    def simulate(self) -> ChangeReport:
        """One batch of realistic source changes (one transaction, one timestamp)."""
        self.seed_no += 1
        return simulate_changes(self.admin, seed=self.seed_no)

    @staticmethod
    def closed_port() -> int:
        """A local TCP port nothing listens on (bound, then released): a database that is down."""
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])

    # -- driving ----------------------------------------------------------------------
    def cycle(self, *, schedule: bool = True, ok: bool = True) -> CycleResult:
        """A scheduled ingestion, then every notification until quiet (with async retries)."""
        result = self.runner.run_cycle(schedule=schedule)
        if ok:
            assert result.ok, [(i.function, i.error) for i in result.failures]
        return result

    def invoke(self, stage: str, event: dict[str, Any] | None = None, *, retries: int = 0) -> Invocation:
        """Invoke one handler as Lambda would (``retries`` extra attempts on failure)."""
        if event is None:
            event = scheduled_event(REGION) if stage == "ingestion" else {}
        saved, self.runner.retries = self.runner.retries, retries
        try:
            return self.runner.invoke(self.functions[stage], event, f"test:{stage}")
        finally:
            self.runner.retries = saved

    def bucket(self, stage: str) -> str:
        """The bucket whose ``runs/`` objects wake ``stage`` (transform: ingest, load: processed)."""
        res = self.pipeline.resources
        return {"transform": res.ingest_bucket, "load": res.processed_bucket}[stage]

    def event_for(self, stage: str, key: str) -> dict[str, Any]:
        """The S3 event notification the commit record ``key`` sends to ``stage``."""
        bucket = self.bucket(stage)
        head = self.pipeline.aws.s3.head_object(Bucket=bucket, Key=key)
        return s3_event(
            bucket=bucket,
            key=key,
            size=int(head["ContentLength"]),
            etag=str(head["ETag"]).strip('"'),
            sequencer=uuid.uuid4().hex[:16].upper(),
            region=REGION,
            configuration_id=stage,
        )

    def deliver(self, stage: str, key: str, *, retries: int = 0) -> Invocation:
        """Deliver the S3 event of ``key`` to ``stage``, whether or not it was delivered before."""
        return self.invoke(stage, self.event_for(stage, key), retries=retries)

    def lose_pending_events(self) -> None:
        """Every object now in the buckets counts as notified: their events are lost."""
        self.runner.mark_all_seen()

    def set_secret(self, which: str, creds: DbCredentials) -> None:
        """Point a database secret somewhere (``which``: ``source`` or ``warehouse``)."""
        p = self.pipeline
        source = creds if which == "source" else p.source.credentials
        warehouse = creds if which == "warehouse" else p.warehouse.credentials
        put_db_secrets(p.aws.secretsmanager, p.resources, source, warehouse)

    def terminate_backends(self, application_name: str) -> int:
        """Kill every server process of ``application_name`` (the database going away under it)."""
        rows = self.admin.run(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = :a AND pid <> pg_backend_pid()",
            a=application_name,
        )
        return sum(1 for r in rows if r[0])

    # -- reading state ----------------------------------------------------------------
    def store(self, stage_bucket: str) -> LakeStore:
        res = self.pipeline.resources
        bucket = {"ingest": res.ingest_bucket, "processed": res.processed_bucket}[stage_bucket]
        return LakeStore(bucket, self.pipeline.aws.s3)

    def runs(self, stage_bucket: str) -> list[int]:
        return list(committed_runs(self.store(stage_bucket)))

    def ledger(self) -> list[int]:
        wh = self.pipeline.warehouse.admin
        return [r[0] for r in wh.run("SELECT run_seq FROM pipeline.load_ledger ORDER BY run_seq")]

    def ssm_last_run_seq(self) -> int:
        name = f"{self.pipeline.resources.ssm_prefix}/ingestion/last_run_seq"
        return int(self.pipeline.aws.ssm.get_parameter(Name=name)["Parameter"]["Value"])

    def manifest(self, seq: int) -> dict[str, Any]:
        return self.store("ingest").get_json(f"runs/{seq:010d}.json")

    def committed_fact_versions(self) -> dict[str, Counter[tuple[int, str]]]:
        """Per fact source: (id, last_updated) -> how many distinct versions committed ingestion runs carried.

        Distinct by content: a version carried twice with the same values (the look-back, a
        comparison) counts once; a correction with the same last_updated counts again; a
        deletion a comparison found counts as a version at its ``observed_at`` (issue 14).
        """
        store = self.store("ingest")
        lines: dict[str, dict[tuple[int, str], set[str]]] = {t: {} for t in FACT_SOURCES}
        for seq in committed_runs(store):
            manifest = store.get_json(f"runs/{seq:010d}.json")
            for table, entry in manifest["tables"].items():
                if table not in FACT_SOURCES or not entry.get("key"):
                    continue
                for line in gzip.decompress(store.get_bytes(entry["key"])).decode().splitlines():
                    try:
                        row = json.loads(line)
                        version = (int(row[f"{table}_id"]), str(row["last_updated"]))
                    except (ValueError, KeyError, TypeError):
                        continue  # a malformed line (only in the malformed-run scenario): quarantined
                    # by value, not by spelling: a line written by another hand (key order, spacing) is the same version
                    lines[table].setdefault(version, set()).add(json.dumps(row, sort_keys=True))
            for table, found in (manifest.get("changes") or {}).items():
                for source_id in found.get("deleted", []) if table in FACT_SOURCES else ():
                    lines[table].setdefault((source_id, found["observed_at"]), set()).add("<deleted>")
        return {t: Counter({v: len(c) for v, c in versions.items()}) for t, versions in lines.items()}

    def warehouse_fact_versions(self) -> dict[str, Counter[tuple[int, str]]]:
        wh = self.pipeline.warehouse.admin
        out: dict[str, Counter[tuple[int, str]]] = {}
        for source, fact in FACT_SOURCES.items():
            rows = wh.run(
                f"SELECT {source}_id, to_char(last_updated_date + last_updated_time,"
                f" 'YYYY-MM-DD\"T\"HH24:MI:SS.MS') FROM {fact}"
            )
            out[source] = Counter((int(r[0]), str(r[1])) for r in rows)
        return out

    def key_versions(self) -> dict[str, Counter[str]]:
        """Versions (and delete markers) per key in both buckets."""
        s3 = self.pipeline.aws.s3
        out: dict[str, Counter[str]] = {}
        for name in ("ingest", "processed"):
            counts: Counter[str] = Counter()
            bucket = self.store(name).bucket
            for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
                for version in page.get("Versions", []):
                    counts[version["Key"]] += 1
                for marker in page.get("DeleteMarkers", []):
                    counts[f"<delete marker> {marker['Key']}"] += 1
            out[name] = counts
        return out

    def reconcile(self) -> ReconcileReport:
        src, wh = self.pipeline.source.connect(), self.pipeline.warehouse.connect()
        try:
            return reconcile(src, wh)
        finally:
            src.close()
            wh.close()

    # -- the verdict ------------------------------------------------------------------
    def verify(
        self, *, quarantined: dict[str, set[int]] | None = None, quarantined_versions: int = 0
    ) -> ReconcileReport:
        """Assert SPEC §3 for the whole pipeline as it now stands (see the module docstring).

        Parameters
        ----------
        quarantined
            Source table -> ids the pipeline rightly quarantined although the source row
            itself looks valid to reconcile (an unknown foreign key): their "missing"
            differences are expected, and nothing else about them may differ.
        quarantined_versions
            How many fact versions in committed ingest objects were quarantined (and
            are therefore expected to be absent from the warehouse).
        """
        report = self.reconcile()
        allowed = {f"{t}_id={i}" for t, ids in (quarantined or {}).items() for i in ids}
        unexpected = [d for d in report.differences if not _quarantined_miss(d, allowed)]
        assert not unexpected, "\n".join(d.describe() for d in unexpected[:30])

        committed, loaded = self.committed_fact_versions(), self.warehouse_fact_versions()
        missing = 0
        for table in FACT_SOURCES:
            twice = {v: n for v, n in loaded[table].items() if n > max(1, committed[table][v])}
            assert not twice, f"{table}: fact versions stored more than once: {list(twice)[:5]}"
            extra = set(loaded[table]) - set(committed[table])
            assert not extra, f"{table}: fact versions no ingestion run carried: {sorted(extra)[:5]}"
            missing += sum(max(0, n - loaded[table][v]) for v, n in committed[table].items())
        assert missing == quarantined_versions, f"{missing} committed fact versions are not in the warehouse"

        for bucket, counts in self.key_versions().items():
            rewritten = {k: n for k, n in counts.items() if n != 1 or k.startswith("<delete marker>")}
            assert not rewritten, f"{bucket} bucket: objects overwritten or deleted: {rewritten}"

        ingest, processed, ledger = self.runs("ingest"), self.runs("processed"), self.ledger()
        assert ingest == list(range(1, len(ingest) + 1)), f"ingest runs {ingest}"
        assert processed == ingest, f"transform did not catch up: {processed} vs {ingest}"
        assert ledger == ingest, f"load did not catch up: {ledger} vs {ingest}"
        return report


def _quarantined_miss(diff: Difference, allowed: set[str]) -> bool:
    return diff.key in allowed and diff.column == "<row>" and diff.actual == "missing"


def _new_world(pipeline: Any, stack: Any, handlers: Any, log: io.StringIO) -> World:
    runner = handlers.runner(pipeline, log)
    return World(pipeline, stack, runner, {s: handlers.function_name(s) for s in handlers.arns}, log)


# -- run 1, made once per session and copied into every test ---------------------------------


@pytest.fixture(scope="session")
def seeded_source_template(stack: Any) -> str:
    """A totesys seeded once (generator, scale 0.05, seed 11); every test gets a copy.

    Seeding per test would cost seconds each; ``CREATE DATABASE ... TEMPLATE`` copies
    files. The copy is byte-identical, sequences included, so each test starts equal.
    """
    name = stack.clone_database(SOURCE_TEMPLATE)
    con = stack.postgres.connect(name)
    try:
        seed_database(con, seed=11, scale=SCALE)
    finally:
        con.close()
    return name


@dataclass(frozen=True)
class FirstCycle:
    """What one clean cycle on the seeded totesys left behind, for every test to copy.

    Every scenario starts from this state; running the cycle in each of them cost about
    half of the suite. A copy is exact where the pipeline looks: the warehouse is a
    template copy, every lake object is copied under its key (one version each, as the
    cycle left it), the SSM state values are copied, and the runner's log is prepended.
    """

    warehouse_template: str
    buckets: dict[str, str]  # "ingest" / "processed" -> the bucket the cycle wrote
    ssm: dict[str, tuple[str, str]]  # name below the SSM prefix -> (type, value)
    log: str


@pytest.fixture(scope="session")
def first_cycle(stack: Any, seeded_source_template: str) -> Iterator[FirstCycle]:
    """One clean cycle (run 1 everywhere) on a copy of the seeded totesys, once per session."""
    with (
        pytest.MonkeyPatch.context() as env,
        stack.source_database(seeded_source_template) as source,
        stack.warehouse_database() as warehouse,
    ):
        stack.aws_environment(env)
        pipeline = stack.provision_pipeline(stack.aws_clients(), source, warehouse)
        world = _new_world(pipeline, stack, stack.deploy_handlers(pipeline), io.StringIO())
        world.cycle()
        assert world.ledger() == [1]
        assert world.runs("ingest") == world.runs("processed") == [1]
        # A template must have no connection open: drop the admin one while copying.
        warehouse.admin.close()
        template = stack.clone_database(warehouse.name)
        warehouse.admin = stack.postgres.connect(warehouse.name)
        res, ssm = pipeline.resources, pipeline.aws.ssm
        parameters = {
            p["Name"].removeprefix(res.ssm_prefix): (p["Type"], p["Value"])
            for page in ssm.get_paginator("get_parameters_by_path").paginate(Path=res.ssm_prefix, Recursive=True)
            for p in page["Parameters"]
        }
        buckets = {"ingest": res.ingest_bucket, "processed": res.processed_bucket}
        yield FirstCycle(template, buckets, parameters, world.log.getvalue())
    stack.drop_database(template)


def _copy_first_cycle(world: World, first: FirstCycle) -> None:
    s3, ssm, res = world.pipeline.aws.s3, world.pipeline.aws.ssm, world.pipeline.resources
    for name, source_bucket in first.buckets.items():
        target = world.store(name).bucket
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=source_bucket):
            for obj in page.get("Contents", []):
                s3.copy_object(Bucket=target, Key=obj["Key"], CopySource={"Bucket": source_bucket, "Key": obj["Key"]})
    for leaf, (kind, value) in first.ssm.items():
        ssm.put_parameter(Name=f"{res.ssm_prefix}{leaf}", Value=value, Type=kind, Overwrite=True)
    world.log.write(first.log)
    world.runner.mark_all_seen()  # run 1's notifications were delivered in that cycle


@pytest.fixture
def source_db(stack: Any, seeded_source_template: str) -> Iterator[Any]:
    """Overrides the root fixture in this folder: a *seeded* totesys, read-only for the pipeline."""
    with stack.source_database(seeded_source_template) as db:
        yield db


@pytest.fixture
def warehouse_db(stack: Any, first_cycle: FirstCycle) -> Iterator[Any]:
    """Overrides the root fixture in this folder: the warehouse as the first cycle left it."""
    with stack.warehouse_database(first_cycle.warehouse_template) as db:
        yield db


@pytest.fixture
def world(pipeline: Any, stack: Any, deployed_handlers: Any, first_cycle: FirstCycle) -> World:
    """The real handlers deployed to moto and wired like terraform/events.tf; totesys seeded
    (scale 0.05) and carried through one clean cycle, so a scenario starts mid-life."""
    world = _new_world(pipeline, stack, deployed_handlers, io.StringIO())
    _copy_first_cycle(world, first_cycle)
    return world


@pytest.fixture
def make_world(stack: Any) -> Callable[[Any, Any], World]:
    """Builds a world on a pipeline and its deployed handlers, as it stands (nothing copied into it):
    for scenarios that begin before the first cycle (test modules cannot import this conftest)."""
    return lambda pipeline, handlers: _new_world(pipeline, stack, handlers, io.StringIO())


@pytest.fixture
def seeded(world: World) -> World:
    """``world`` after one clean cycle on the seeded totesys (run 1 everywhere)."""
    assert world.ledger() == [1]
    assert world.runs("ingest") == world.runs("processed") == [1]
    return world
