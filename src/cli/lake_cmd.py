"""``totes lake query "SQL"``: the processed bucket's Parquet as tables, queried embedded with DuckDB.

The views are named as in the warehouse (``fact_sales_order`` every version,
``pipeline.fact_sales_order_current``, ``dim_currency`` ...: ``ops.lake_query``), so a
question asked of the warehouse runs unchanged on the lake. Locally the lake is the
stack's moto; with ``--outputs`` the deployed processed bucket (AWS credentials as boto3
finds them). In AWS, Athena answers the same questions over the Glue catalogue.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

console = Console()
lake_app = typer.Typer(help="The lake (processed bucket) as tables, queried with DuckDB.", no_args_is_help=True)

OutputsOpt = Annotated[
    Path | None,
    typer.Option("--outputs", help="Terraform outputs (terraform output -json) of a real deployment."),
]


@lake_app.command("query")
def query(
    sql: Annotated[str, typer.Argument(help="One SQL statement (DuckDB dialect) over the lake's views.")],
    outputs: OutputsOpt = None,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV (header first) instead of a table.")] = False,
) -> None:
    """Run SQL over the lake's committed Parquet objects (DuckDB, in process); exit 1 if it fails."""
    import duckdb

    from cli.pipeline_cmds import _quiet_servers, _target
    from common.s3_store import LakeStore
    from ops.lake_query import open_lake, s3_filesystem
    from ops.lake_query import query as run_query

    _quiet_servers()
    target = _target(outputs)
    store = LakeStore(target.resources.processed_bucket, target.client("s3"))
    lake = open_lake(store, s3_filesystem(target.aws_env, target.region))
    try:
        columns, rows = run_query(lake, sql)
    except duckdb.Error as exc:
        console.print(f"[red]Query failed:[/] {exc}")
        raise typer.Exit(1) from exc
    finally:
        lake.close()
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
