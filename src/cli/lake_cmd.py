"""``totes lake query "SQL"``: the processed bucket's Parquet as tables, queried embedded with DuckDB.

The views are named as in the warehouse (``fact_sales_order`` every version,
``pipeline.fact_sales_order_current``, ``dim_currency`` ...: ``ops.lake_query``), so a
question asked of the warehouse runs unchanged on the lake. Locally the lake is the
stack's moto; with ``--outputs`` the deployed processed bucket (AWS credentials as boto3
finds them). ``--athena`` asks the deployment's Athena instead (``ops.lake_athena``: the
Glue catalogue's views of the same objects, in the lake's workgroup).
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

console = Console()
lake_app = typer.Typer(
    help="The lake (processed bucket) as tables, queried with DuckDB (or Athena).", no_args_is_help=True
)

OutputsOpt = Annotated[
    Path | None,
    typer.Option("--outputs", help="Terraform outputs (terraform output -json) of a real deployment."),
]


@lake_app.command("query")
def query(
    sql: Annotated[str, typer.Argument(help="One SQL statement over the lake's views (DuckDB, or Athena's Trino).")],
    outputs: OutputsOpt = None,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV (header first) instead of a table.")] = False,
    athena: Annotated[
        bool, typer.Option("--athena", help="Ask the deployment's Athena (workgroup, Glue database: outputs).")
    ] = False,
) -> None:
    """Run SQL over the lake's committed Parquet objects (DuckDB in process, or Athena); exit 1 if it fails."""
    from cli.pipeline_cmds import _quiet_servers, _target

    _quiet_servers()
    target = _target(outputs)
    try:
        columns, rows = _on_athena(target, sql) if athena else _on_duckdb(target, sql)
    except _QueryFailedError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from exc
    if as_csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(rows)
        return
    table = Table(*columns)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    console.print(table)
    console.print(f"{len(rows)} rows")


class _QueryFailedError(Exception):
    """What failed and where, printed instead of a traceback."""


def _on_duckdb(target: Any, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    import duckdb
    from botocore.exceptions import BotoCoreError, ClientError

    from common.s3_store import LakeStore
    from lake.errors import ContractError
    from ops.lake_query import open_lake, s3_filesystem
    from ops.lake_query import query as run_query

    bucket = target.resources.processed_bucket
    try:
        lake = open_lake(LakeStore(bucket, target.client("s3")), s3_filesystem(target.aws_env, target.region))
    except (ContractError, ClientError, BotoCoreError, duckdb.Error) as exc:
        raise _QueryFailedError(f"Cannot open the lake in s3://{bucket}: {exc}") from exc
    try:
        return run_query(lake, sql)
    except (duckdb.Error, OSError) as exc:  # OSError: pyarrow could not read an object
        raise _QueryFailedError(f"Lake query failed (DuckDB over s3://{bucket}): {exc}") from exc
    finally:
        lake.close()


def _on_athena(target: Any, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    import boto3

    from ops.lake_athena import AthenaQueryError, athena_query

    database, workgroup = target.output("lake_database"), target.output("athena_workgroup")
    if not database or not workgroup:
        raise _QueryFailedError("--athena needs the outputs lake_database and athena_workgroup (terraform/outputs.tf)")
    try:
        return athena_query(
            sql, database=str(database), workgroup=str(workgroup), session=boto3.Session(region_name=target.region)
        )
    except AthenaQueryError as exc:
        raise _QueryFailedError(str(exc)) from exc
