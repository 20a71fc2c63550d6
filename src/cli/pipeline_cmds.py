"""Commands that run and operate the pipeline: ``run-local``, ``run``, ``migrate``, ``status``,
``reconcile``, ``replay``/``backfill`` and ``quarantine list|show``.

Every command but ``run-local`` talks to the local stack when one is up
(``.local/stack.json``), or to a real account with ``--outputs outputs.json``
(``terraform output -json``) and the usual AWS profile/environment. Usage: docs/usage.md.
"""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from cli.local_cmds import ScaleOpt
from common.s3_store import LakeStore

if TYPE_CHECKING:
    from ops.target import Target

console = Console()
quarantine_app = typer.Typer(help="Inspect bad input kept in quarantine.", no_args_is_help=True)

OutputsOpt = Annotated[
    Path | None,
    typer.Option("--outputs", help="Terraform outputs (terraform output -json) of a real deployment."),
]
MAX_DIFFS_SHOWN = 50


def _target(outputs: Path | None) -> Target:
    from cli.targets import resolve_target
    from ops.target import TargetError

    try:
        target = resolve_target(outputs)
    except (TargetError, FileNotFoundError) as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from exc
    target.apply_environment()
    return target


def _quiet_servers() -> None:
    # moto's and werkzeug's request logs would bury the summary.
    for name in ("werkzeug", "botocore", "moto"):
        logging.getLogger(name).setLevel(logging.ERROR)


# -- printing ------------------------------------------------------------------------------


def _count_table(title: str, rows: dict[str, dict[str, int]], columns: list[str]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("table")
    for c in columns:
        table.add_column(c, justify="right")
    for name in sorted(rows):
        table.add_row(name, *(f"{rows[name].get(c, 0):,}" for c in columns))
    return table


def _per_table(counts: dict[str, int]) -> str:
    return ", ".join(f"{t} {n}" for t, n in sorted(counts.items()) if n) or "none"


def print_run_local(result: Any) -> None:
    """The run-local summary: rows per stage, durations, state, verdict, report."""
    from common.source_tables import TABLE_ORDER
    from common.warehouse_tables import LOAD_ORDER
    from lake.keys import FX_RATES

    for cycle in result.cycles:
        # The exchange rates (issue 17) are the second source: a row in both tables.
        source = {
            t: {"extracted": cycle.extracted.get(t, 0), "quarantined": cycle.quarantined.get(t, 0)}
            for t in (*TABLE_ORDER, FX_RATES)
        }
        star = {
            t: {"transformed": cycle.transformed.get(t, 0), "loaded": cycle.loaded.get(t, 0)}
            for t in (*LOAD_ORDER, FX_RATES)
        }
        runs = ", ".join(map(str, cycle.runs)) or "none"
        console.rule(
            f"Cycle {cycle.name}: run(s) {runs}, {cycle.duration_s:.1f} s, {len(cycle.cycle.invocations)} invocations"
        )
        console.print(_count_table("Source tables", source, ["extracted", "quarantined"]))
        console.print(_count_table("Warehouse tables", star, ["transformed", "loaded"]))
        if cycle.found_deleted or cycle.found_changed_in_place:
            console.print(
                f"Found by the comparison: {sum(cycle.found_deleted.values())} deleted "
                f"({_per_table(cycle.found_deleted)}), {sum(cycle.found_changed_in_place.values())} changed in place "
                f"({_per_table(cycle.found_changed_in_place)})"
            )
        for failure in cycle.cycle.failures:
            what = f"{failure.function} ({failure.trigger})"
            console.print(
                f"[red]✗ {what} failed after {failure.attempts} attempts ({failure.failure_kind}): {failure.error}[/]"
            )
    durations = Table(title="Time per stage (every cycle)", title_justify="left")
    durations.add_column("stage")
    durations.add_column("seconds", justify="right")
    for stage, seconds in result.stage_durations.items():
        durations.add_row(stage, f"{seconds:.2f}")
    for step, seconds in result.steps:
        durations.add_row(f"[dim]{step}[/]", f"[dim]{seconds:.2f}[/]")
    console.print(durations)
    print_status(result.status)
    print_reconciliation(result.reconciliation)
    console.print(f"Stage logs (JSON, EMF metrics): [bold]{result.log_path}[/]")
    console.print(f"Warehouse report: [bold]{result.report_path}[/]")


def print_status(status: Any) -> None:
    table = Table(title="Pipeline state", title_justify="left")
    table.add_column("what")
    table.add_column("value")
    table.add_row("SSM last_run_seq", str(status.ssm_last_run_seq))
    for stage in status.stages:
        lag = status.lag_runs[stage.stage]
        table.add_row(
            f"last {stage.stage} run", f"{stage.run_seq} at {stage.committed_at or '?'} (behind ingestion: {lag})"
        )
    lag = status.source_lag_seconds
    table.add_row("source lag (now - oldest watermark)", f"{lag:,.0f} s" if lag is not None else "no watermarks yet")
    table.add_row("quarantined rows", ", ".join(f"{t}: {n}" for t, n in status.quarantined.items()) or "none")
    table.add_row(
        "refused by the warehouse (pipeline.load_quarantine)",
        ", ".join(f"{t}: {n}" for t, n in status.load_quarantined.items()) or "none",
    )
    table.add_row(
        "rows stamped in the future (newest run)",
        ", ".join(f"{t}: {e.get('rows', 0)}" for t, e in status.future_rows.items()) or "none",
    )
    table.add_row(
        "first snapshots under way (key ranges)",
        ", ".join(f"{t}: next id {c.from_id}, {c.rows:,} rows in {c.runs} runs" for t, c in status.snapshots.items())
        or "none",
    )
    depth = status.failure_queue_depth
    table.add_row("failure queue depth", "unknown" if depth is None else str(depth))
    console.print(table)
    if status.future_rows:
        ahead = Table(title="Source rows stamped in the future (ingested once their time comes)", title_justify="left")
        ahead.add_column("table")
        ahead.add_column("rows")
        ahead.add_column("first keys (id @ last_updated)")
        for t, e in sorted(status.future_rows.items()):
            keys = ", ".join(f"{pk} @ {stamp}" for pk, stamp in e.get("keys", []))
            ahead.add_row(t, str(e.get("rows", 0)), keys)
        console.print(ahead)
    if status.comparisons:
        compared = Table(
            title="Last comparison with the lake (deletions, changes that kept last_updated)", title_justify="left"
        )
        for column in ("table", "run", "committed at", "deleted", "changed in place"):
            compared.add_column(column)
        for t, c in sorted(status.comparisons.items()):
            compared.add_row(t, str(c.run_seq), c.committed_at or "?", str(c.deleted), str(c.changed_in_place))
        console.print(compared)
    if status.watermarks:
        marks = Table(title="Watermarks (SSM)", title_justify="left")
        marks.add_column("table")
        marks.add_column("watermark")
        for t, w in sorted(status.watermarks.items()):
            marks.add_row(t, w)
        console.print(marks)


def print_reconciliation(report: Any) -> None:
    if report.ok:
        console.print(f"[bold green]Reconciliation passed:[/] {report.summary()}")
    else:
        console.print(f"[bold red]Reconciliation FAILED:[/] {report.summary()}")
        if report.differences:
            table = Table(title_justify="left")
            for c in ("table", "key", "column", "expected", "actual"):
                table.add_column(c)
            for d in report.differences[:MAX_DIFFS_SHOWN]:
                table.add_row(d.table, d.key, d.column, repr(d.expected), repr(d.actual))
            console.print(table)
            total = sum(report.difference_counts.values())
            if total > MAX_DIFFS_SHOWN:
                console.print(f"… and {total - MAX_DIFFS_SHOWN} more")
    # Always shown: how much was checked is part of the verdict, not a detail of a failure.
    counts = Table(title="Source rows per table", title_justify="left")
    for c in ("table", "source rows", "checked", "skipped as bad input"):
        counts.add_column(c)
    for name, c in report.counts.items():
        flag = " [red](too many)[/]" if name in report.mostly_skipped else ""
        counts.add_row(name, str(c.source_rows), str(c.checked), f"{c.skipped} ({c.skipped_share:.1%}){flag}")
    console.print(counts)
    skipped = sum(c.skipped for c in report.counts.values())
    if skipped:
        console.print(f"[yellow]{skipped} bad source rows skipped (quarantined by design)[/]")


# -- commands ------------------------------------------------------------------------------


def run_local(
    scale: ScaleOpt = 1.0,
    seed: Annotated[int, typer.Option(help="Random seed of the generator (the simulator uses seed + 1).")] = 42,
    keep_stack: Annotated[bool, typer.Option(help="Leave PostgreSQL + moto running afterwards.")] = False,
) -> None:
    """Run the whole pipeline locally, end to end (what `make run` does)."""
    from cli.run_local import StackBusyError
    from cli.run_local import run_local as flow

    _quiet_servers()
    try:
        result = flow(scale=scale, seed=seed, keep_stack=keep_stack, console=console)
    except StackBusyError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from exc
    print_run_local(result)
    if keep_stack:
        console.print("Stack left running: `totes status`, `totes run`, `totes local down` when done.")
    if not result.ok:
        raise typer.Exit(1)


def _interval_seconds(expression: str | None) -> int:
    match = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours)\)", (expression or "").strip())
    if not match:
        return 15 * 60
    return int(match.group(1)) * (60 if match.group(2).startswith("minute") else 3600)


def run(
    watch: Annotated[bool, typer.Option(help="Keep running a cycle every schedule interval.")] = False,
    interval: Annotated[int | None, typer.Option(min=1, help="Seconds between cycles (default: the schedule).")] = None,
    outputs: OutputsOpt = None,
) -> None:
    """Run one pipeline cycle (or --watch: one per schedule interval) against the running pipeline."""
    from local.aws_resources import put_db_secrets

    _quiet_servers()
    target = _target(outputs)
    every = interval or _interval_seconds(target.output("ingestion_schedule_expression"))
    if not target.is_local:
        # In AWS the schedule and S3 notifications are real: starting ingestion is enough.
        target.client("lambda").invoke(FunctionName=target.output("ingestion_function_name"), InvocationType="Event")
        console.print("Ingestion invoked; transform and load follow through the S3 notifications.")
        return
    put_db_secrets(
        target.client("secretsmanager"), target.resources, target.source_credentials(), target.warehouse_credentials()
    )
    log_path = (target.log_dir or Path(".")) / "run.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("a", encoding="utf-8") as log:
        runner = target.runner(log_sink=log)
        while True:
            with console.status("Running a cycle…"):
                cycle = runner.run_cycle()
            for inv in cycle.invocations:
                mark = "[green]✓[/]" if inv.ok else f"[red]✗ ({inv.failure_kind}) {inv.error}[/]"
                console.print(f"{mark} {inv.function} ← {inv.trigger} ({inv.duration_s:.2f} s)")
            if not watch:
                if not cycle.ok:
                    raise typer.Exit(1)
                return
            console.print(f"[dim]next cycle in {every} s (Ctrl-C to stop); stage logs: {log_path}[/]")
            time.sleep(every)


def _local_warehouse(application_name: str) -> Any:
    """A connection to the local stack's warehouse as its owner; exit 2 when no stack is up."""
    from common.db import connect
    from local.stack import StackDetails

    try:
        details = StackDetails.read()
    except FileNotFoundError as exc:
        console.print(f"[red]{exc}[/] (or give --outputs outputs.json for a deployment)")
        raise typer.Exit(2) from exc
    return connect(details.warehouse_credentials, application_name)


def migrate(
    outputs: OutputsOpt = None,
    direct: Annotated[
        bool, typer.Option(help="With --outputs: connect from here with the warehouse secret instead of the function.")
    ] = False,
) -> None:
    """Apply pending warehouse migrations (idempotent): the local stack's, or a deployment's (--outputs).

    With --outputs the deployed load function applies the migrations it ships
    ({"action": "migrate"}); `make deploy` runs this after terraform apply.
    """
    from load.schema import migrate as apply_migrations
    from ops.migrate import LoadActionError, invoke_migration, migrate_direct

    if outputs is None:
        con = _local_warehouse("totes-migrate")
        try:
            applied = apply_migrations(con)
        finally:
            con.close()
        via = "the local stack's warehouse"
    else:
        _quiet_servers()
        target = _target(outputs)
        try:
            result = migrate_direct(target) if direct else invoke_migration(target)
        except LoadActionError as exc:
            console.print(f"[red]{exc}[/]")
            raise typer.Exit(1) from exc
        applied, via = result.applied, result.via
    console.print(f"applied ({via}): {', '.join(applied)}" if applied else f"warehouse schema is up to date ({via})")


def fold_summaries(outputs: OutputsOpt = None) -> None:
    """Fold the loaded runs into the analytics app's summaries now (a no-op when they are current).

    The pipeline does this itself right after each load; this is for an operator who does
    not want to wait for the fold schedule (a failed fold, after fixing its cause). Local
    stack: directly. With --outputs: the deployed load function, {"action": "fold_summaries"}.
    """
    from load.summaries import fold_pending
    from ops.migrate import LoadActionError, invoke_fold

    if outputs is None:
        con = _local_warehouse("totes-fold")
        try:
            answer, via = fold_pending(con).summary(), "the local stack's warehouse"
        finally:
            con.close()
    else:
        _quiet_servers()
        try:
            answer, via = invoke_fold(_target(outputs))
        except LoadActionError as exc:
            console.print(f"[red]{exc}[/]")
            raise typer.Exit(1) from exc
    if not answer.get("lock_acquired"):
        console.print(f"a load or another fold holds the load lock ({via}); it folds what is pending")
    elif answer.get("folded_through") is None:
        current = f"run {answer['summaries_run']}" if answer.get("summaries_run") else "nothing loaded yet"
        console.print(f"the summaries are current: {current} ({via})")
    else:
        console.print(
            f"folded runs {answer.get('summaries_run') or 0} -> {answer['folded_through']}"
            f" in {answer.get('duration_ms')} ms ({via})"
        )


def compare(
    allow_mass_delete: Annotated[
        bool, typer.Option(help="Apply deletions the mass-delete guard held (after reviewing the source).")
    ] = False,
    outputs: OutputsOpt = None,
) -> None:
    """Compare the source with the lake now (deletions, changes that kept last_updated), then transform and load."""
    from ops.runner import compare_event

    _quiet_servers()
    target = _target(outputs)
    event = compare_event(allow_mass_delete=allow_mass_delete)
    if not target.is_local:
        # In AWS the S3 notifications carry the run on; wait for the comparison to report.
        response = target.client("lambda").invoke(
            FunctionName=target.output("ingestion_function_name"), Payload=json.dumps(event).encode()
        )
        body = response["Payload"].read().decode()
        console.print(body)
        if response.get("FunctionError"):
            raise typer.Exit(1)
        return
    from local.aws_resources import put_db_secrets

    put_db_secrets(
        target.client("secretsmanager"), target.resources, target.source_credentials(), target.warehouse_credentials()
    )
    runner = target.runner()
    with console.status("Comparing…"):
        cycle = runner.run_cycle(ingestion_event=event)
    for inv in cycle.invocations:
        mark = "[green]✓[/]" if inv.ok else f"[red]✗ ({inv.failure_kind}) {inv.error}[/]"
        console.print(f"{mark} {inv.function} ← {inv.trigger} ({inv.duration_s:.2f} s)")
    found = cycle.invocations[0].result if cycle.invocations and cycle.invocations[0].ok else None
    if isinstance(found, dict):
        console.print(
            f"deleted: {found.get('deleted') or 'none'}; changed in place: {found.get('changed_in_place') or 'none'}"
        )
    if not cycle.ok:
        raise typer.Exit(1)


def status(outputs: OutputsOpt = None) -> None:
    """Watermarks, last run of each stage, lag, quarantine counts, failure-queue depth."""
    from ops.status import collect_status

    target = _target(outputs)
    wh = target.connect_warehouse()
    try:
        state = collect_status(
            s3=target.client("s3"),
            ssm=target.client("ssm"),
            resources=target.resources,
            warehouse=wh,
            sqs=target.client("sqs"),
            failure_queue_url=target.output("failure_queue_url"),
        )
    finally:
        wh.close()
    print_status(state)


def reconcile(
    outputs: OutputsOpt = None,
    max_skipped_share: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="Fail if more than this share of a table's source rows is bad input."),
    ] = 0.01,
) -> None:
    """Compare the warehouse with totesys (independently of the transform code); non-zero if they differ."""
    from common.s3_store import LakeStore
    from ops.reconcile import reconcile as compare
    from ops.reconcile_fx import check_fx_rates

    target = _target(outputs)
    src, wh = target.connect_source(), target.connect_warehouse()
    try:
        with console.status("Reconciling…"):
            report = compare(src, wh, max_skipped_share=max_skipped_share)
            # The exchange rates' source of truth is what the lake recorded (ops.reconcile_fx).
            ingest = LakeStore(target.resources.ingest_bucket, target.client("s3"))
            check_fx_rates(ingest, target.client("ssm"), target.resources.ssm_prefix, wh, report)
    finally:
        src.close()
        wh.close()
    print_reconciliation(report)
    if not report.ok:
        raise typer.Exit(1)


def _replay(mode: str, from_run: int | None, to_run: int | None, yes: bool, outputs: Path | None) -> None:
    import pg8000.exceptions
    from botocore.exceptions import BotoCoreError, ClientError

    from common.errors import PipelineError
    from ops.replay import ReplayError

    target = _target(outputs)
    if not yes:
        console.print("[yellow]This clears warehouse tables before rebuilding them; add --yes to go ahead.[/]")
        raise typer.Exit(2)
    try:
        _replay_on(target, mode, from_run, to_run)
    except (
        PipelineError,  # every stage's and the lake contracts' errors, retriable or fatal
        ReplayError,
        pg8000.exceptions.Error,
        OSError,
        BotoCoreError,
        ClientError,
    ) as exc:
        # What failed and what to do, not a traceback: the stage logs have the details.
        console.print(f"[red]Replay failed:[/] {type(exc).__name__}: {exc}")
        console.print("Fix the cause and run the same command again: it starts from the ledger as it is now.")
        raise typer.Exit(1) from exc


def _replay_on(target: Any, mode: str, from_run: int | None, to_run: int | None) -> None:
    from ops.replay import replay as do_replay
    from ops.status import last_loaded_run

    wh = target.connect_warehouse()
    try:
        if to_run is not None:
            last = LakeStore(target.resources.processed_bucket, target.client("s3"))
            from ops.status import last_committed_run

            latest = last_committed_run(last).run_seq or 0
            if to_run < latest:
                # The load stage applies pending runs in order up to the newest; stopping
                # earlier would need a bound in the load API (docs/usage.md, limits).
                console.print(f"[red]--to-run must be the latest committed run ({latest}) or omitted[/]")
                raise typer.Exit(2)
        with console.status(f"Replaying ({mode})…"):
            result = do_replay(
                warehouse=wh,
                lambda_client=target.client("lambda"),
                s3=target.client("s3"),
                processed_bucket=target.resources.processed_bucket,
                transform_function=target.output("transform_function_name"),
                load_function=target.output("load_function_name"),
                mode=mode,
                from_run=from_run,
                # A new generation bucket outside us-east-1 needs its region named.
                region=target.region,
            )
        loaded = last_loaded_run(wh)
    finally:
        wh.close()
    console.print(
        f"[green]Replayed[/] ({result.mode}) from s3://{result.processed_bucket}; ledger at run {loaded.run_seq}"
    )
    console.print("Check it with `totes reconcile`.")


def replay(
    mode: Annotated[
        str, typer.Option(help="retransform (from the ingest bucket, new processed generation) or reload.")
    ] = "retransform",
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: the warehouse star tables are emptied first.")] = False,
    outputs: OutputsOpt = None,
) -> None:
    """Rebuild the whole warehouse from the immutable lake (no lake object is overwritten)."""
    _replay(mode, None, None, yes, outputs)


def backfill(
    from_run: Annotated[int, typer.Option("--from-run", help="First run to re-apply.")],
    to_run: Annotated[
        int | None, typer.Option("--to-run", help="Last run (must be the latest; see docs/usage.md).")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: ledger rows of these runs are removed first.")] = False,
    outputs: OutputsOpt = None,
) -> None:
    """Re-apply committed processed runs --from-run onwards to the warehouse (idempotent)."""
    _replay("reload", from_run, to_run, yes, outputs)


@quarantine_app.command("list")
def quarantine_list(
    run_seq: Annotated[int | None, typer.Option("--run", help="Only this run.")] = None,
    table: Annotated[str | None, typer.Option(help="Only this source table.")] = None,
    outputs: OutputsOpt = None,
) -> None:
    """Quarantine objects with row counts and reasons."""
    from ops.quarantined import list_quarantine

    target = _target(outputs)
    objects = list_quarantine(
        LakeStore(target.resources.processed_bucket, target.client("s3")), run_seq=run_seq, table=table
    )
    if not objects:
        console.print("No quarantined input.")
        return
    out = Table(title="Quarantine (processed bucket)", title_justify="left")
    for c in ("run", "table", "rows", "committed", "reasons", "key"):
        out.add_column(c)
    for o in objects:
        reasons = "; ".join(f"{n}× {r}" for r, n in o.reasons.items())
        out.add_row(str(o.run_seq), o.table, str(o.rows), "yes" if o.committed else "orphan", reasons, o.key)
    console.print(out)


@quarantine_app.command("show")
def quarantine_show(
    key: Annotated[str, typer.Argument(help="Key of a quarantine object (see `quarantine list`).")],
    limit: Annotated[int, typer.Option(help="Records to print.")] = 20,
    outputs: OutputsOpt = None,
) -> None:
    """Print the rejected records of one quarantine object."""
    from common.s3_store import ObjectMissingError
    from ops.quarantined import read_records

    target = _target(outputs)
    try:
        records = read_records(LakeStore(target.resources.processed_bucket, target.client("s3")), key)
    except ObjectMissingError as exc:
        console.print(f"[red]no such quarantine object: {key}[/]")
        raise typer.Exit(1) from exc
    for record in records[:limit]:
        console.print_json(json.dumps(record, default=str))
    if len(records) > limit:
        console.print(f"… {len(records) - limit} more records (--limit)")


TOP_LEVEL_COMMANDS = {
    "run-local": run_local,
    "run": run,
    "migrate": migrate,
    "fold-summaries": fold_summaries,
    "compare": compare,
    "status": status,
    "reconcile": reconcile,
    "replay": replay,
    "backfill": backfill,
}
