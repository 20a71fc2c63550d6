"""The Glue Data Catalog over the processed bucket, derived from the one contract (``common.warehouse_tables``).

``python -m ops.lake_catalog`` writes ``terraform/lake_catalog.json``, which
``terraform/lake_catalog.tf`` reads; a unit test fails when the file is not what this
module derives from the contract, so the catalogue follows every warehouse migration (the
migration, ``common.warehouse_tables`` and this file move together). What it holds:

* ``tables``: per warehouse table, the Parquet objects under ``tables/<table>/`` (no
  partitions, so no crawler: an object is visible to the next query once written), with
  Glue types from the Arrow schema transform writes; plus ``transform_runs``, the commit
  records under ``runs/`` (pretty-printed JSON, which the Ion SerDe reads);
* ``views`` (Athena views, stored in Glue as Presto views): ``<table>_committed`` keeps the
  objects of the attempt a commit record names (a failed attempt's objects stay, orphaned)
  and adds the run as ``run_seq``; on top, ``lake.views``' definitions: ``<fact>`` (every
  version), ``<fact>_current``, ``<dimension>`` (latest member), as DuckDB has them locally.
  Rows deleted at the source reach the lake only as the comparison runs' ``deletions`` in
  the commit records: ``<fact>_deleted`` unnests them from ``transform_runs`` (key, the
  moment observed, the run), which ``lake.views`` turns into deletion versions, so Athena's
  current views leave them out as the warehouse's and DuckDB's do (SPEC §2).

Athena's Hive tables have no TIME type: a ``time`` column is declared ``bigint``, the
microseconds since midnight that Parquet's TIME(MICROS) stores (ordering is unchanged).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa

from common.warehouse_tables import FACTS, IS_DELETED, TABLES, Kind
from lake.keys import RUNS_PREFIX, table_prefix
from lake.views import RUN_SEQ, lake_views

CATALOG_FILE = Path(__file__).resolve().parents[2] / "terraform" / "lake_catalog.json"
RUNS_TABLE = "transform_runs"
OBJECTS_PREFIX = "objects_"  # objects_fact_sales_order: every Parquet object, orphans included
COMMITTED_SUFFIX = "_committed"
DELETED_SUFFIX = "_deleted"  # a fact's deletions, from the commit records (_deleted_sql)
DELETIONS = "deletions"  # the commit record's member (lake.commit_record): fact -> observed_at, ids
# Object key -> (run, attempt): the lake.keys layout tables/<table>/<seq:010d>-<attempt>.parquet.
_RUN_OF_PATH = r"'/(\d{10})-[0-9a-f]+\.parquet$'"
_ATTEMPT_OF_PATH = r"'/\d{10}-([0-9a-f]+)\.parquet$'"


def glue_type(arrow: pa.DataType) -> str:
    """The Glue (Hive) type Athena reads an Arrow column of transform's Parquet as."""
    if pa.types.is_int32(arrow):
        return "int"
    if pa.types.is_int64(arrow) or pa.types.is_time64(arrow):
        return "bigint"
    if pa.types.is_string(arrow):
        return "string"
    if pa.types.is_date32(arrow):
        return "date"
    if pa.types.is_boolean(arrow):
        return "boolean"
    if pa.types.is_decimal(arrow):
        return f"decimal({arrow.precision},{arrow.scale})"
    raise ValueError(f"no Glue type for {arrow}")


def presto_type(glue: str) -> str:
    """The type a Presto view's column declares for a Glue column type."""
    return {"int": "integer", "string": "varchar"}.get(glue, glue)


def _columns(table: str) -> list[dict[str, str]]:
    return [{"name": f.name, "type": glue_type(f.type)} for f in TABLES[table].schema]


def _committed_sql(table: str) -> str:
    columns = ", ".join(f'o."{c}"' for c in TABLES[table].column_names)
    # Identifiers from common.warehouse_tables; the patterns are constants.
    return (
        f'SELECT {columns}, r."run_seq" AS "{RUN_SEQ}" FROM "{OBJECTS_PREFIX}{table}" o'  # noqa: S608  # nosec B608
        f' JOIN "{RUNS_TABLE}" r ON r."run_seq" = CAST(regexp_extract(o."$path", {_RUN_OF_PATH}, 1) AS integer)'
        f' AND r."attempt" = regexp_extract(o."$path", {_ATTEMPT_OF_PATH}, 1)'
    )


def _deleted_columns(fact: str) -> list[dict[str, str]]:
    types = {c["name"]: c["type"] for c in _columns(fact)}
    names = (TABLES[fact].key, "last_updated_date", "last_updated_time")
    return [*({"name": n, "type": types[n]} for n in names), {"name": RUN_SEQ, "type": "bigint"}]


def _deleted_sql(fact: str) -> str:
    """``fact``'s deletions from the commit records: key, the moment observed (``observed_at``:
    the source's UTC clock, milliseconds, a ``Z`` tolerated, as ``load.deletions.observed_moment``
    reads it) as date and microseconds since midnight (the Athena time type), and the run.

    Only functions Trino (Athena engine 3) and DuckDB share, so a test runs this text on
    DuckDB against the same objects. A run without deletions of ``fact`` has a NULL ``ids``,
    which ``UNNEST`` turns into no rows.
    """
    entry = f'r."{DELETIONS}"."{fact}"'
    moment = f"CAST(replace(replace({entry}.\"observed_at\", 'T', ' '), 'Z', '') AS timestamp)"
    micros = f"date_diff('millisecond', CAST(CAST({moment} AS date) AS timestamp), {moment}) * 1000"
    key, day, clock, seq = (f'"{c["name"]}"' for c in _deleted_columns(fact))
    # Identifiers from common.warehouse_tables; no value is spliced in.
    return (
        f"SELECT CAST(d.id AS integer) AS {key}, CAST({moment} AS date) AS {day},"  # noqa: S608  # nosec B608
        f' CAST({micros} AS bigint) AS {clock}, CAST(r."run_seq" AS bigint) AS {seq}'
        f' FROM "{RUNS_TABLE}" r CROSS JOIN UNNEST({entry}."ids") AS d(id)'
    )


def _runs_columns() -> list[dict[str, str]]:
    """The commit record members the views read: the run, its attempt and every fact's deletions."""
    entry = "struct<observed_at:string,ids:array<int>>"
    deletions = "struct<" + ",".join(f"{fact}:{entry}" for fact in FACTS) + ">"
    return [
        {"name": "run_seq", "type": "int"},
        {"name": "attempt", "type": "string"},
        {"name": DELETIONS, "type": deletions},
    ]


def catalog() -> dict[str, Any]:
    """The catalogue Terraform creates (see the module docstring)."""
    tables: dict[str, Any] = {
        f"{OBJECTS_PREFIX}{name}": {"prefix": table_prefix(name), "format": "parquet", "columns": _columns(name)}
        for name in TABLES
    }
    tables[RUNS_TABLE] = {
        "prefix": RUNS_PREFIX,
        "format": "ion",
        "columns": _runs_columns(),
    }
    views: dict[str, Any] = {}
    for name in TABLES:
        columns = [*_columns(name), {"name": RUN_SEQ, "type": "bigint"}]
        views[f"{name}{COMMITTED_SUFFIX}"] = {"sql": _committed_sql(name), "columns": columns}
    for name in FACTS:
        views[f"{name}{DELETED_SUFFIX}"] = {"sql": _deleted_sql(name), "columns": _deleted_columns(name)}
    relation_of = {t: f'"{t}{COMMITTED_SUFFIX}"' for t in TABLES}
    for name, sql in lake_views(relation_of, {f: f'"{f}{DELETED_SUFFIX}"' for f in FACTS}).items():
        base = name.removesuffix("_current")
        history = name == base and TABLES[base].kind is Kind.FACT
        extra = [{"name": RUN_SEQ, "type": "bigint"}, {"name": IS_DELETED, "type": "boolean"}] if history else []
        views[name] = {"sql": sql, "columns": [*_columns(base), *extra]}
    for view in views.values():  # Glue stores a view's columns as Hive types, its Presto definition its own
        view["columns"] = [{**c, "presto_type": presto_type(c["type"])} for c in view["columns"]]
    return {"tables": tables, "views": views}


def render() -> str:
    return json.dumps(catalog(), indent=2, sort_keys=True) + "\n"


def main() -> int:
    CATALOG_FILE.write_text(render())
    print(f"wrote {CATALOG_FILE}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
