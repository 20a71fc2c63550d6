"""Commands for the local stack: ``local up|down``, ``seed``, ``simulate``, ``migrate``, ``run-local``."""

from __future__ import annotations

import json
import logging
from typing import Annotated

import pg8000.native
import typer
from rich.console import Console

from common.db import connect
from local.paths import LOCAL_DIR, STACK_FILE
from local.stack import LocalStack, StackDetails, stop_detached

console = Console()
local_app = typer.Typer(help="Start and stop the local stack (PostgreSQL + moto).", no_args_is_help=True)

# Checked by the option parser, before anything starts: 1 is 5,000 sales orders, 200 a
# million; below 0.04 the generator's minimum applies anyway, and 1000 (5 million) is
# beyond what one machine loads in a reasonable time.
MIN_SCALE, MAX_SCALE = 0.01, 1000.0
ScaleOpt = Annotated[
    float,
    typer.Option(min=MIN_SCALE, max=MAX_SCALE, help="Data scale: 1 is a few thousand sales orders."),
]
SeedOpt = Annotated[int, typer.Option(help="Random seed; the same seed gives the same data.")]


def _admin_connection(details: StackDetails, database: str) -> pg8000.native.Connection:
    return connect(details.admin_credentials(database), "totes-cli")


@local_app.command("up")
def local_up() -> None:
    """Start PostgreSQL (totesys + warehouse) and moto, and leave them running."""
    if STACK_FILE.exists():
        console.print(f"[yellow]A stack is already up[/] (see {STACK_FILE}); `totes local down` first.")
        raise typer.Exit(1)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    details = LocalStack(LOCAL_DIR, detached=True).up()
    details.write()
    console.print(f"[green]Local stack up.[/] Connection details written to [bold]{STACK_FILE}[/]")
    console.print(
        f"  totesys   postgresql://{details.source['username']}@127.0.0.1:{details.pg_port}/{details.source['dbname']}"
    )
    console.print(
        f"  warehouse postgresql://{details.warehouse['username']}@127.0.0.1:{details.pg_port}/{details.warehouse['dbname']}"
    )
    console.print(f"  moto      {details.moto_endpoint}  (export AWS_ENDPOINT_URL={details.moto_endpoint})")
    console.print("  passwords are in the details file (local only, mode 600)")


@local_app.command("down")
def local_down(wipe: Annotated[bool, typer.Option(help="Also delete the database files.")] = False) -> None:
    """Stop a stack started with `local up`."""
    if not STACK_FILE.exists():
        console.print("No local stack is up.")
        return
    details = StackDetails.read()
    stop_detached(details, wipe=wipe)
    STACK_FILE.unlink()
    console.print("[green]Local stack stopped.[/]")


@local_app.command("terraform-apply")
def local_terraform_apply(
    env: Annotated[str, typer.Option(help="Terraform environment name (resources are totes-<env>-...).")] = "local",
    destroy: Annotated[bool, typer.Option(help="Destroy what a previous apply created instead.")] = False,
) -> None:
    """Apply terraform/ to the running stack's moto server and print its outputs.

    The database secrets Terraform created (without a value) are then set to the
    stack's credentials, as an operator does in AWS (docs/operations.md).
    """
    from common.config import PipelineResources
    from local.aws_resources import put_db_secrets
    from local.moto_server import moto_client
    from local.terraform_local import apply_local, destroy_local

    details = StackDetails.read()
    if destroy:
        destroy_local(details.moto_endpoint, env=env)
        console.print(f"[green]Destroyed[/] the {env} environment on {details.moto_endpoint}.")
        return
    outputs = apply_local(details.moto_endpoint, env=env)
    put_db_secrets(
        moto_client("secretsmanager", details.moto_endpoint),
        PipelineResources.from_terraform_outputs(outputs),
        details.source_credentials,
        details.warehouse_credentials,
    )
    console.print_json(json.dumps(outputs))
    outputs_file = LOCAL_DIR / "terraform" / env / "outputs.json"
    console.print(f"[green]Applied[/] terraform/ to {details.moto_endpoint}; outputs in {outputs_file}")


def seed(scale: ScaleOpt = 1.0, seed: SeedOpt = 42) -> None:
    """Fill the running stack's totesys with deterministic synthetic data."""
    from local.generator import seed_database

    details = StackDetails.read()
    con = _admin_connection(details, str(details.source["dbname"]))
    try:
        counts = seed_database(con, seed=seed, scale=scale)
    finally:
        con.close()
    console.print_json(json.dumps(counts))


def simulate(seed: SeedOpt = 7) -> None:
    """Apply a batch of realistic changes to the running stack's totesys and describe them."""
    from local.simulator import simulate_changes

    details = StackDetails.read()
    con = _admin_connection(details, str(details.source["dbname"]))
    try:
        report = simulate_changes(con, seed=seed)
    finally:
        con.close()
    console.print(report.describe())


TOP_LEVEL_COMMANDS = [seed, simulate]
