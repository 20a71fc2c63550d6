"""Make sure there is a local pipeline with data to look at (``totes dashboard``).

In ``cli`` because it runs the pipeline (``ops``) on the development stack (``local``).

No stack up: run the whole pipeline and keep the stack (``run_local``: start PostgreSQL
and moto, apply the Terraform, seed, two cycles). A stack up whose warehouse has never
been loaded: apply the Terraform if it was not, seed totesys if it is empty, run a cycle.
A stack with loaded data is used as it is.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from common.db import connect
from local.paths import STACK_FILE
from local.stack import StackDetails


def warehouse_loaded(details: StackDetails) -> bool:
    con = connect(details.warehouse_credentials, "totes-dashboard-setup")
    try:
        return bool(con.run("SELECT EXISTS (SELECT 1 FROM pipeline.load_ledger)")[0][0])
    finally:
        con.close()


def ensure_stack_with_data(console: Console, *, scale: float = 1.0, seed: int = 42) -> StackDetails:
    """The running stack's details, after starting, seeding and loading whatever was missing."""
    from cli.run_local import admin_connection, run_cycle, run_local
    from cli.targets import local_target
    from local.generator import seed_database
    from local.terraform_local import default_workdir, deploy_to_stack

    if not STACK_FILE.exists():
        console.print("[yellow]No local stack is up: running the pipeline once (as `make run`) and keeping it.[/]")
        run_local(scale=scale, seed=seed, keep_stack=True, console=console)
        return StackDetails.read()
    details = StackDetails.read()
    if warehouse_loaded(details):
        return details
    console.print("[yellow]The warehouse is empty: seeding totesys and running a cycle.[/]")
    outputs_file: Path = default_workdir("local") / "outputs.json"
    target = local_target(details, deploy_to_stack(details, fresh=not outputs_file.exists()))
    with target.handler_environment():
        admin = admin_connection(details)
        try:
            if not admin.run("SELECT EXISTS (SELECT 1 FROM sales_order)")[0][0]:
                seed_database(admin, seed=seed, scale=scale)
        finally:
            admin.close()
        summary = run_cycle(target, target.runner(), "dashboard")
    if not summary.cycle.ok:
        raise RuntimeError(f"the pipeline cycle failed: {[f.error for f in summary.cycle.failures]}")
    return details
