"""``make run`` (``totes run-local``): the whole pipeline, locally, end to end.

1. Start the local stack (PostgreSQL with totesys + warehouse, moto), apply the real
   Terraform to moto, put both database secrets, point the handlers' environment at
   what Terraform created.
2. Seed totesys and run a cycle (schedule -> ingestion, then the S3 notifications the
   Terraform wired, until quiet: ``ops.runner``).
3. Apply simulated source changes and run another cycle.
4. Summarise: rows per table per stage, durations, state, the reconciliation verdict.
5. Write the HTML warehouse report under ``.local/report/``.

The stack is stopped at the end, also on failure, unless ``keep_stack``. The stages'
JSON logs and EMF metrics go to a file under ``<root>/logs/`` so the summary stays
readable (they are still produced, exactly as in Lambda). It lives in ``cli`` because
it uses both the development stack (``local``) and the operations (``ops``).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pg8000.native
from rich.console import Console

from cli.targets import local_target
from common.db import connect
from common.s3_store import LakeStore
from common.warehouse_tables import LOAD_ORDER
from lake import ssm as ssm_names
from lake.commit_record import read_commit_record
from lake.errors import CommitRecordError
from lake.keys import FX_RATES
from lake.manifest import read_manifest
from local.fx_server import FxServer
from local.generator import seed_database
from local.paths import LOCAL_DIR, STACK_FILE
from local.postgres_server import remove_data, server_data_dir
from local.simulator import simulate_changes, simulate_silent_changes
from local.stack import LocalStack, StackDetails
from local.terraform_local import deploy_to_stack
from ops.reconcile import ReconcileReport, reconcile
from ops.reconcile_fx import check_fx_rates
from ops.report import write_report
from ops.runner import CycleResult, PipelineRunner, compare_event, overlay_environ
from ops.status import PipelineStatus, collect_status, ledger_columns
from ops.target import Target


class StackBusyError(RuntimeError):
    """A stack left up by ``totes local up`` (or ``run-local --keep-stack``) is running."""


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
    # What a comparison run found per source table (ingestion.compare): deleted / changed in place.
    found_deleted: dict[str, int] = field(default_factory=dict)
    found_changed_in_place: dict[str, int] = field(default_factory=dict)


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


# -- counting what a cycle did -------------------------------------------------------------


def warehouse_counts(warehouse: pg8000.native.Connection) -> dict[str, int]:
    """Rows in each star table."""
    return {
        t: int(warehouse.run(f"SELECT count(*) FROM {pg8000.native.identifier(t)}")[0][0])  # noqa: S608  # nosec B608
        for t in LOAD_ORDER
    }


def _add(into: dict[str, int], table: str, rows: Any) -> None:
    into[table] = into.get(table, 0) + int(rows or 0)


def summarise_runs(target: Target, summary: CycleSummary) -> None:
    """Fill a cycle's per-table counts from the commit records of its runs."""
    s3 = target.client("s3")
    ingest = LakeStore(target.resources.ingest_bucket, s3)
    processed = LakeStore(target.resources.processed_bucket, s3)
    for seq in summary.runs:
        manifest = read_manifest(ingest, seq)
        for table, entry in (manifest.tables if manifest else {}).items():
            _add(summary.extracted, table, entry.rows)
        for table, found in (manifest.changes if manifest else {}).items():
            if found.deleted:
                _add(summary.found_deleted, table, len(found.deleted))
            if found.changed_in_place:
                _add(summary.found_changed_in_place, table, len(found.changed_in_place))
        if manifest is not None and manifest.fx_rates is not None:  # an exchange-rate run
            _add(summary.extracted, FX_RATES, manifest.fx_rates.rows)
        with contextlib.suppress(CommitRecordError):  # not transformed (a failed cycle): nothing to count
            record = read_commit_record(processed, seq)
            for table, ref in record.tables.items():
                _add(summary.transformed, table, ref.rows)
            if record.fx_rates is not None:
                _add(summary.transformed, FX_RATES, record.fx_rates.rows)
            for table, ref in record.quarantine.items():
                _add(summary.quarantined, table, ref.rows)


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


def run_cycle(
    target: Target, runner: PipelineRunner, name: str, ingestion_event: dict[str, Any] | None = None
) -> CycleSummary:
    """One cycle with its per-table counts; ``loaded`` is the net change of each star table."""
    ssm = target.client("ssm")
    param = ssm_names.last_run_seq_name(target.resources.ssm_prefix)
    wh = target.connect_warehouse("totes-run-local")
    try:
        before_seq = int(ssm.get_parameter(Name=param)["Parameter"]["Value"])
        before = warehouse_counts(wh)
        t0 = time.perf_counter()
        cycle = runner.run_cycle(ingestion_event=ingestion_event)
        duration = time.perf_counter() - t0
        after_seq = int(ssm.get_parameter(Name=param)["Parameter"]["Value"])
        after = warehouse_counts(wh)
    finally:
        wh.close()
    summary = CycleSummary(name, cycle, list(range(before_seq + 1, after_seq + 1)), duration_s=duration)
    summarise_runs(target, summary)
    wh = target.connect_warehouse("totes-run-local")
    try:
        summary.loaded = loaded_rows(wh, summary.runs) or {t: after[t] - before[t] for t in LOAD_ORDER}
    finally:
        wh.close()
    return summary


def reconcile_target(target: Target) -> ReconcileReport:
    src, wh = target.connect_source("totes-reconcile"), target.connect_warehouse("totes-reconcile")
    try:
        report = reconcile(src, wh)
        ingest = LakeStore(target.resources.ingest_bucket, target.client("s3"))
        check_fx_rates(ingest, target.client("ssm"), target.resources.ssm_prefix, wh, report)
        return report
    finally:
        src.close()
        wh.close()


def admin_connection(details: StackDetails) -> pg8000.native.Connection:
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


@dataclass
class _Flow:
    """What the steps of one run-local share."""

    steps: _Steps
    details: StackDetails
    target: Target
    log: io.TextIOBase
    seed: int
    results: dict[str, Any] = field(default_factory=dict)

    def admin(self, work: Any) -> Any:
        admin = admin_connection(self.details)
        try:
            return work(admin)
        finally:
            admin.close()

    def cycles(self, scale: float) -> None:
        with self.steps.step(f"Seeding totesys (scale {scale}, seed {self.seed})"):
            self.results["seeded"] = self.admin(lambda con: seed_database(con, seed=self.seed, scale=scale))
        runner = self.target.runner(log_sink=self.log)
        with self.steps.step("Cycle 1: ingestion -> transform -> load"):
            first = run_cycle(self.target, runner, "1 (seeded data)")
        with self.steps.step("Simulating source changes"):
            changes = self.admin(lambda con: simulate_changes(con, seed=self.seed + 1).describe())
            silent = self.admin(lambda con: simulate_silent_changes(con, seed=self.seed + 2).describe())
            self.results["changes"] = f"{changes}\n{silent}"
        with self.steps.step("Cycle 2: ingestion -> transform -> load"):
            second = run_cycle(self.target, runner, "2 (simulated changes)")
        with self.steps.step("Cycle 2b: comparison of the source with the lake -> transform -> load"):
            compared = run_cycle(self.target, runner, "2b (comparison)", compare_event())
        self.results["cycles"] = [first, second, compared]

    def verdict(self, report_dir: Path) -> None:
        with self.steps.step("Reconciling the warehouse with totesys"):
            self.results["reconciliation"] = reconcile_target(self.target)
            wh = self.target.connect_warehouse("totes-status")
            try:
                self.results["status"] = collect_status(
                    s3=self.target.client("s3"),
                    ssm=self.target.client("ssm"),
                    resources=self.target.resources,
                    warehouse=wh,
                    sqs=self.target.client("sqs"),
                    failure_queue_url=self.target.output("failure_queue_url"),
                )
            finally:
                wh.close()
        with self.steps.step("Writing the warehouse report"):
            wh = self.target.connect_warehouse("totes-report")
            try:
                self.results["report_path"] = write_report(wh, report_dir)
            finally:
                wh.close()

    def stage_durations(self) -> dict[str, float]:
        names = self.target.function_names()
        durations: dict[str, float] = {}
        for cycle in self.results["cycles"]:
            for function, seconds in cycle.cycle.duration_by_function().items():
                stage = names.get(function, function)
                durations[stage] = durations.get(stage, 0.0) + seconds
        return durations


def _keep_moto_from_running_lambdas() -> None:
    # moto answers an S3 notification to a Lambda by trying to run the function's zip in
    # docker: with a docker daemon that is a second, uncontrolled delivery of every event
    # (without one, an error line per event). The runner delivers notifications, so moto
    # must not: point its docker client at nothing, and hush its error log.
    os.environ["DOCKER_HOST"] = "unix:///nonexistent/totes-no-docker.sock"
    logging.getLogger("moto.awslambda").setLevel(logging.CRITICAL)
    logging.getLogger("moto.awslambda.models").setLevel(logging.CRITICAL)


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

    ``scale``/``seed`` size the synthetic totesys (the simulator uses ``seed + 1``);
    ``keep_stack`` leaves PostgreSQL and moto running (``.local/stack.json``) for
    ``totes run``, ``status``, …; ``root`` holds server data, logs and the report
    (``.local/run-local``); ``fast`` (tests only) runs PostgreSQL without fsync;
    ``report_dir`` is where the HTML report goes (``.local/report``).

    Raises
    ------
    StackBusyError
        A stack left up earlier is still running (its data directory would clash).
    """
    if keep_stack and STACK_FILE.exists():
        raise StackBusyError(f"a local stack is already up ({STACK_FILE}); run `totes local down` first")
    root = (root or LOCAL_DIR / "run-local").resolve()
    remove_data(server_data_dir(root / "pg"))  # every run starts from an empty totesys
    log_path = root / "logs" / f"run-local-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    steps = _Steps(console or Console())
    _keep_moto_from_running_lambdas()
    stack = LocalStack(root, fast=fast, detached=keep_stack)
    finished = False
    with log_path.open("w", encoding="utf-8") as log:
        try:
            with steps.step("Starting PostgreSQL (totesys + warehouse) and moto"):
                details = stack.up()
            with steps.step("Applying the Terraform to moto"):
                outputs = deploy_to_stack(details, workdir=None if keep_stack else root / "terraform", fresh=True)
            flow = _Flow(steps, details, local_target(details, outputs), log, seed)  # type: ignore[arg-type]
            # Exchange rates from a local server (local.fx_server), never the internet.
            with (
                FxServer() as fx,
                flow.target.handler_environment(),
                overlay_environ({"FX_RATES_URL": fx.url_template}),
            ):
                flow.cycles(scale)
                flow.verdict(report_dir or LOCAL_DIR / "report")
            if keep_stack:
                details.write()
            finished = True
        finally:
            # Nothing is left running unless asked for, and never after a failure.
            if not (keep_stack and finished):
                stack.down()
    return RunLocalResult(**flow.results, stage_durations=flow.stage_durations(), log_path=log_path, steps=steps.done)
