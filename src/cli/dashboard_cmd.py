"""``totes dashboard``: serve the analytics app (src/dashboard) over the warehouse.

Locally it uses the running stack (starting one, seeding and running a cycle when
there is no data yet) and connects as the stack's ``warehouse_reader``. Against AWS it
takes the Terraform outputs (``--outputs``) and the Secrets Manager id of the
``warehouse_reader`` credentials (``--secret``), as the other commands take theirs.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from common.db import DbCredentials, connect, get_db_credentials

console = Console()

OutputsOpt = Annotated[
    Path | None,
    typer.Option("--outputs", help="Terraform outputs (terraform output -json) of a real deployment."),
]


def lake_status_reader(target: Any) -> Any:
    """A callable giving the lake's side of the health page (ingestion/transform runs, quarantine)."""
    from dashboard.health import LakeStatus, StageRun
    from ops.status import collect_status

    def read() -> LakeStatus:
        status = collect_status(
            s3=target.client("s3"), ssm=target.client("ssm"), resources=target.resources, warehouse=None
        )
        stages = [
            StageRun(
                s.stage,
                s.run_seq,
                datetime.fromisoformat(s.committed_at.replace("Z", "+00:00")) if s.committed_at else None,
            )
            for s in status.stages
            if s.stage != "load"
        ]
        return LakeStatus(stages, dict(status.quarantined))

    return read


def dashboard(
    port: Annotated[int, typer.Option(help="Port on the host to serve on.")] = 8050,
    host: Annotated[str, typer.Option(help="Address to listen on (127.0.0.1: this machine only).")] = "127.0.0.1",
    refresh: Annotated[int, typer.Option(help="Seconds between checks for newly loaded data.")] = 30,
    outputs: OutputsOpt = None,
    secret: Annotated[
        str | None, typer.Option("--secret", help="AWS: Secrets Manager id of the warehouse_reader credentials.")
    ] = None,
    lake: Annotated[bool, typer.Option(help="Show the lake's runs and quarantine on the health page.")] = True,
) -> None:
    """Serve the analytics app (Sales, Purchases and payments, order history, pipeline health)."""
    from cli.pipeline_cmds import _target as resolve_cli_target
    from dashboard.app import create_app

    creds: DbCredentials
    if outputs is None:
        from cli.stack_data import ensure_stack_with_data

        details = ensure_stack_with_data(console)
        reader = details.reader_credentials
        if reader is None:
            console.print("[red]This stack predates the app's role: `totes local down` and start it again.[/]")
            raise typer.Exit(2)
        creds = reader
    target = resolve_cli_target(outputs)
    if outputs is not None:
        if not secret:
            console.print("[red]--secret (the warehouse_reader credentials' secret id) is needed with --outputs[/]")
            raise typer.Exit(2)
        creds = get_db_credentials(secret, target.client("secretsmanager"))
    app = create_app(
        lambda: connect(creds, "totes-dashboard"),
        lake_status=lake_status_reader(target) if lake else None,
        refresh_seconds=refresh,
    )
    console.print(f"[green]Analytics app:[/] http://{host}:{port}/  (Ctrl-C to stop)")
    app.run(host=host, port=port, debug=False)
