"""``make run`` (``totes run-local``): the whole pipeline, locally, end to end.

1. Start the local stack (PostgreSQL with totesys + warehouse, moto), apply the real
   Terraform to moto, put both database secrets, point the handlers' environment at
   what Terraform created.
2. Seed totesys and run a cycle (schedule -> ingestion, then the S3 notifications the
   Terraform wired, until quiet: ``local.runner``).
3. Apply simulated source changes and run another cycle.
4. Summarise: rows per table per stage, durations, state, the reconciliation verdict.
5. Write the HTML warehouse report under ``.local/report/``.

The stack is stopped at the end, also on failure, unless ``keep_stack``. The stages'
JSON logs and EMF metrics go to a file under ``<root>/logs/`` so the summary stays
readable (they are still produced, exactly as in Lambda).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pg8000.native
from rich.console import Console

from common.db import connect
from common.s3_store import LakeStore
from common.warehouse_tables import LOAD_ORDER
from lake import ssm as ssm_names
from lake.commit_record import read_commit_record
from lake.errors import CommitRecordError
from lake.manifest import read_manifest
from local.aws_resources import PipelineResources, put_db_secrets
from local.moto_server import FAKE_CREDENTIALS, REGION
from local.paths import LOCAL_DIR, STACK_FILE
from local.postgres_server import remove_data, server_data_dir
from local.runner import CycleResult, PipelineRunner, overlay_environ
from local.stack import LocalStack, StackDetails
from ops.reconcile import ReconcileReport, reconcile
from ops.report import write_report
from ops.status import PipelineStatus, collect_status, ledger_columns

WAREHOUSE_TABLES: tuple[str, ...] = LOAD_ORDER  # dimensions first, as load applies them


class StackBusyError(RuntimeError):
    """A stack left up by ``totes local up`` (or ``run-local --keep-stack``) is running."""


@dataclass
class Deployment:
    """A pipeline deployed to a moto server: Terraform's outputs and the AWS clients."""

    outputs: dict[str, Any]
    resources: PipelineResources
    endpoint: str

    def client(self, service: str) -> Any:
        # moto's fake credentials, explicitly: no real AWS credentials are ever used locally.
        return boto3.client(
            service,
            region_name=REGION,
            endpoint_url=self.endpoint,
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
        )

    def function_names(self) -> dict[str, str]:
        """Deployed function name -> stage name."""
        return {str(self.outputs[f"{s}_function_name"]): s for s in ("ingestion", "transform", "load")}

    def runner(self, log_sink: Any = None) -> PipelineRunner:
        return PipelineRunner(
            s3=self.client("s3"),
            lambda_client=self.client("lambda"),
            ingestion_function=str(self.outputs["ingestion_function_name"]),
            buckets=[self.resources.ingest_bucket, self.resources.processed_bucket],
            region=REGION,
            sqs=self.client("sqs"),
            failure_queue_url=self.outputs.get("failure_queue_url"),
            log_sink=log_sink,
        )


@dataclass
class CycleSummary:
    """One cycle: what was invoked and the rows each stage reported for its runs."""

    name: str
    cycle: CycleResult
    runs: list[int]
    extracted: dict[str, int] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)
    transformed: dict[str, int] = field(default_factory=dict)
    loaded: dict[str, int] = field(default_factory=dict)
    duration_s: float = 0.0


@dataclass
class RunLocalResult:
    """Everything ``run-local`` did and found."""

    seeded: dict[str, int]
    changes: str
    cycles: list[CycleSummary]
    stage_durations: dict[str, float]
    status: PipelineStatus
    reconciliation: ReconcileReport
    report_path: Path
    log_path: Path
    steps: list[tuple[str, float]]

    @property
    def ok(self) -> bool:
        return self.reconciliation.ok and all(c.cycle.ok for c in self.cycles)


# -- pieces shared with the CLI --------------------------------------------------------


def moto_environment(details: StackDetails) -> dict[str, str]:
    """The environment that points boto3 at the stack's moto (fake credentials)."""
    return dict(details.aws_env)


def deploy(details: StackDetails, *, workdir: Path | None = None, fresh: bool = False) -> Deployment:
    """Apply the Terraform to the stack's moto and put both database secrets.

    Parameters
    ----------
    details
        The running stack.
    workdir
        Terraform working directory (module copy and state); the default of ``apply_local``.
    fresh
        Forget an old state file first: a new moto server holds none of its resources.
    """
    from local.terraform_local import apply_local, default_workdir

    workdir = workdir or default_workdir("local")
    if fresh:
        for state in workdir.glob("terraform.tfstate*"):
            state.unlink()
    outputs = apply_local(details.moto_endpoint, env="local", workdir=workdir)
    deployment = Deployment(outputs, PipelineResources.from_terraform_outputs(outputs), details.moto_endpoint)
    put_db_secrets(
        deployment.client("secretsmanager"),
        deployment.resources,
        details.source_credentials,
        details.warehouse_credentials,
    )
    return deployment


def handler_environment(deployment: Deployment, details: StackDetails) -> contextlib.AbstractContextManager[None]:
    """Set what a handler reads (moto endpoint, resource names) for the duration, then restore."""
    return overlay_environ({**moto_environment(details), **deployment.resources.handler_env()})


def warehouse_counts(warehouse: pg8000.native.Connection) -> dict[str, int]:
    """Rows in each star table."""
    return {
        t: int(warehouse.run(f"SELECT count(*) FROM {pg8000.native.identifier(t)}")[0][0])  # noqa: S608  # nosec B608
        for t in WAREHOUSE_TABLES
    }


def _add(into: dict[str, int], table: str, rows: Any) -> None:
    into[table] = into.get(table, 0) + int(rows or 0)


def summarise_runs(deployment: Deployment, summary: CycleSummary) -> None:
    """Fill a cycle's per-table counts from the commit records of its runs."""
    s3 = deployment.client("s3")
    ingest = LakeStore(deployment.resources.ingest_bucket, s3)
    processed = LakeStore(deployment.resources.processed_bucket, s3)
    for seq in summary.runs:
        manifest = read_manifest(ingest, seq)
        for table, entry in (manifest.tables if manifest else {}).items():
            _add(summary.extracted, table, entry.rows)
        with contextlib.suppress(CommitRecordError):  # not transformed (a failed cycle): nothing to count
            record = read_commit_record(processed, seq)
            for table, ref in record.tables.items():
                _add(summary.transformed, table, ref.rows)
            for table, ref in record.quarantine.items():
                _add(summary.quarantined, table, ref.rows)


def run_cycle(
    deployment: Deployment,
    runner: PipelineRunner,
    details: StackDetails,
    name: str,
) -> CycleSummary:
    """One cycle with its per-table counts; ``loaded`` is the net change of each star table."""
    ssm = deployment.client("ssm")
    param = ssm_names.last_run_seq_name(deployment.resources.ssm_prefix)
    wh = connect(details.warehouse_credentials, "totes-run-local")
    try:
        before_seq = int(ssm.get_parameter(Name=param)["Parameter"]["Value"])
        before = warehouse_counts(wh)
        t0 = time.perf_counter()
        cycle = runner.run_cycle()
        duration = time.perf_counter() - t0
        after_seq = int(ssm.get_parameter(Name=param)["Parameter"]["Value"])
        after = warehouse_counts(wh)
    finally:
        wh.close()
    summary = CycleSummary(name, cycle, list(range(before_seq + 1, after_seq + 1)), duration_s=duration)
    summarise_runs(deployment, summary)
    wh = connect(details.warehouse_credentials, "totes-run-local")
    try:
        summary.loaded = loaded_rows(wh, summary.runs) or {t: after[t] - before[t] for t in WAREHOUSE_TABLES}
    finally:
        wh.close()
    return summary


def loaded_rows(warehouse: pg8000.native.Connection, runs: list[int]) -> dict[str, int]:
    """Rows the load ledger says each run inserted or upserted, per star table ({} without a ledger)."""
    if not runs or "rows_per_table" not in ledger_columns(warehouse):
        return {}
    out: dict[str, int] = {}
    rows = warehouse.run("SELECT rows_per_table FROM pipeline.load_ledger WHERE run_seq = ANY(:runs)", runs=runs)
    for (per_table,) in rows:
        for table, counts in (per_table or {}).items():
            _add(out, table, counts.get("loaded") if isinstance(counts, dict) else counts)
    return out


def reconcile_stack(details: StackDetails) -> ReconcileReport:
    src = connect(details.source_credentials, "totes-reconcile")
    wh = connect(details.warehouse_credentials, "totes-reconcile")
    try:
        return reconcile(src, wh)
    finally:
        src.close()
        wh.close()


def _admin(details: StackDetails) -> pg8000.native.Connection:
    # The generator and simulator write totesys; the pipeline's role can only read it.
    return connect(details.admin_credentials(str(details.source["dbname"])), "totes-run-local")


# -- the flow ----------------------------------------------------------------------------


class _Steps:
    """Spinner while a step runs, a tick with its duration when it is done."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.done: list[tuple[str, float]] = []

    @contextlib.contextmanager
    def step(self, title: str) -> Iterator[None]:
        t0 = time.perf_counter()
        with self.console.status(f"[bold]{title}…"):
            yield
        elapsed = time.perf_counter() - t0
        self.done.append((title, elapsed))
        self.console.print(f"[green]✓[/] {title} [dim]({elapsed:.1f} s)[/]")


def run_local(
    *,
    scale: float = 1.0,
    seed: int = 42,
    keep_stack: bool = False,
    root: Path | None = None,
    fast: bool = False,
    report_dir: Path | None = None,
    console: Console | None = None,
) -> RunLocalResult:
    """Run the whole pipeline locally, end to end (what ``make run`` does).

    Parameters
    ----------
    scale, seed
        Size and random seed of the synthetic totesys (the simulator uses ``seed + 1``).
    keep_stack
        Leave PostgreSQL and moto running (details in ``.local/stack.json``) for
        ``totes run``, ``status``, ``reconcile``, ….
    root
        Folder for server data, logs and the report; ``.local/run-local`` by default.
    fast
        Tests only: PostgreSQL without fsync.
    report_dir
        Where the HTML report goes; ``.local/report`` by default.
    console
        Where progress goes.

    Returns
    -------
    RunLocalResult
        The per-cycle counts, durations, state, reconciliation and report path.

    Raises
    ------
    StackBusyError
        A stack left up earlier is still running (its data directory would clash).
    """
    from local.generator import seed_database
    from local.simulator import simulate_changes

    console = console or Console()
    if keep_stack and STACK_FILE.exists():
        raise StackBusyError(f"a local stack is already up ({STACK_FILE}); run `totes local down` first")
    root = (root or LOCAL_DIR / "run-local").resolve()
    remove_data(server_data_dir(root / "pg"))  # every run starts from an empty totesys
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    log_path = root / "logs" / f"run-local-{stamp}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    steps = _Steps(console)
    # moto answers an S3 notification to a Lambda by trying to run the function's zip in
    # docker: with a docker daemon that is a second, uncontrolled delivery of every event
    # (without one, an error line per event). The runner delivers notifications, so moto
    # must not: point its docker client at nothing, and hush its error log.
    os.environ["DOCKER_HOST"] = "unix:///nonexistent/totes-no-docker.sock"
    logging.getLogger("moto.awslambda").setLevel(logging.CRITICAL)
    logging.getLogger("moto.awslambda.models").setLevel(logging.CRITICAL)
    stack = LocalStack(root, fast=fast, detached=keep_stack)
    finished = False
    with log_path.open("w", encoding="utf-8") as log:
        try:
            with steps.step("Starting PostgreSQL (totesys + warehouse) and moto"):
                details = stack.up()
            with steps.step("Applying the Terraform to moto"):
                workdir = None if keep_stack else root / "terraform"
                deployment = deploy(details, workdir=workdir, fresh=True)
            with handler_environment(deployment, details):
                with steps.step(f"Seeding totesys (scale {scale}, seed {seed})"):
                    admin = _admin(details)
                    try:
                        seeded = seed_database(admin, seed=seed, scale=scale)
                    finally:
                        admin.close()
                runner = deployment.runner(log_sink=log)
                with steps.step("Cycle 1: ingestion -> transform -> load"):
                    first = run_cycle(deployment, runner, details, "1 (seeded data)")
                with steps.step("Simulating source changes"):
                    admin = _admin(details)
                    try:
                        changes = simulate_changes(admin, seed=seed + 1).describe()
                    finally:
                        admin.close()
                with steps.step("Cycle 2: ingestion -> transform -> load"):
                    second = run_cycle(deployment, runner, details, "2 (simulated changes)")
                with steps.step("Reconciling the warehouse with totesys"):
                    verdict = reconcile_stack(details)
                    wh = connect(details.warehouse_credentials, "totes-status")
                    try:
                        status = collect_status(
                            s3=deployment.client("s3"),
                            ssm=deployment.client("ssm"),
                            resources=deployment.resources,
                            warehouse=wh,
                            sqs=deployment.client("sqs"),
                            failure_queue_url=deployment.outputs.get("failure_queue_url"),
                        )
                    finally:
                        wh.close()
                with steps.step("Writing the warehouse report"):
                    wh = connect(details.warehouse_credentials, "totes-report")
                    try:
                        report_path = write_report(wh, report_dir or LOCAL_DIR / "report")
                    finally:
                        wh.close()
            if keep_stack:
                details.write()
            finished = True
        finally:
            # Nothing is left running unless asked for, and never after a failure.
            if not (keep_stack and finished):
                stack.down()
    names = deployment.function_names()
    durations: dict[str, float] = {}
    for cycle in (first, second):
        for function, seconds in cycle.cycle.duration_by_function().items():
            durations[names.get(function, function)] = durations.get(names.get(function, function), 0.0) + seconds
    return RunLocalResult(
        seeded=seeded,
        changes=str(changes),
        cycles=[first, second],
        stage_durations=durations,
        status=status,
        reconciliation=verdict,
        report_path=report_path,
        log_path=log_path,
        steps=steps.done,
    )
