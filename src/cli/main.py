"""Entry point of the ``totes`` console script. Each command group lives in its own module."""

from __future__ import annotations

import typer

from cli import dashboard_cmd, lake_cmd, local_cmds, pipeline_cmds

app = typer.Typer(
    help="Terrific Totes data pipeline: totesys -> S3 lake -> star-schema warehouse.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals can hold credentials
)
app.add_typer(local_cmds.local_app, name="local")
for command in local_cmds.TOP_LEVEL_COMMANDS:
    app.command()(command)
app.add_typer(pipeline_cmds.quarantine_app, name="quarantine")
for name, command in pipeline_cmds.TOP_LEVEL_COMMANDS.items():
    app.command(name)(command)
app.command("dashboard")(dashboard_cmd.dashboard)
app.add_typer(lake_cmd.lake_app, name="lake")

if __name__ == "__main__":
    app()
