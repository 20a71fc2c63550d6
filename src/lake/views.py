"""The lake as tables: the one definition of each warehouse table's current state, for every engine.

The processed bucket holds every row transform produced, run by run (``lake.keys``):
all versions of every fact (the history, as the warehouse's fact tables hold it) and each
run's changed dimension members. Given a relation of those rows with the run each came
from (``RUN_SEQ``, the warehouse's load order), ``latest_sql`` selects what the warehouse
shows as current: per fact the version with the greatest ``last_updated`` (date, time),
ties broken by the later load, exactly as ``pipeline.<fact>_current``
(sql/warehouse/003_fact_current_views.sql) does with the surrogate key; per dimension the
member's last upsert. The SQL is the subset PostgreSQL, DuckDB and Athena (Trino) share
(a window, no ``DISTINCT ON``), so DuckDB (``ops.lake_query``), Athena
(``ops.lake_catalog``) and a test against the warehouse's own views run the same text.

Why the warehouse's views are not generated from here too: they are migration 003, and a
migration is never edited once on main; a functional test runs ``latest_sql`` on the
warehouse and checks it returns exactly what 003's views return.
"""

from __future__ import annotations

from common.warehouse_tables import IS_DELETED, TABLES, Kind, WarehouseTable

RUN_SEQ = "run_seq"  # the lake's load order: the run a row came from (the warehouse uses its surrogate keys)
CURRENT_SUFFIX = "_current"  # pipeline.fact_sales_order_current, as in the warehouse


def _q(name: str) -> str:
    # Every name comes from common.warehouse_tables (the allow-list); quoted the ANSI way all three engines read.
    return f'"{name}"'


def latest_sql(table: WarehouseTable, relation: str, tiebreak: str = RUN_SEQ) -> str:
    """Each key's current row of ``table`` from ``relation`` (all its versions, with ``tiebreak``).

    Facts: the greatest (last_updated_date, last_updated_time), then the greatest
    ``tiebreak``, left out when that version is a deletion (``is_deleted``, SPEC §2, as
    migration 005's views); dimensions and dim_date: the greatest ``tiebreak`` (the last upsert).
    """
    columns = ", ".join(_q(c) for c in table.column_names)
    order, inner, current = f"{_q(tiebreak)} DESC", columns, "version_rank = 1"
    if table.kind is Kind.FACT:
        order = f'"last_updated_date" DESC, "last_updated_time" DESC, {order}'
        inner, current = f"{columns}, {_q(IS_DELETED)}", f"version_rank = 1 AND NOT {_q(IS_DELETED)}"
    window = f"row_number() OVER (PARTITION BY {_q(table.key)} ORDER BY {order})"
    return (
        f"SELECT {columns} FROM (SELECT {inner}, {window} AS version_rank FROM {relation}) AS versions"  # noqa: S608  # nosec B608
        f" WHERE {current}"
    )


def fact_versions_sql(table: WarehouseTable, rows: str, deleted: str) -> str:
    """Every version of a fact: its lake rows (``is_deleted`` false) and the deletions the
    comparison runs recorded in their commit records (``deleted``: key, last_updated_date,
    last_updated_time = the moment observed, ``RUN_SEQ``), as versions with ``is_deleted``
    true and no values (load copies the last known values into the warehouse's; the
    current state is the same)."""
    columns = [_q(c) for c in table.column_names]
    kept = {table.key, "last_updated_date", "last_updated_time"}
    marker = [(c if name in kept else "NULL") for name, c in zip(table.column_names, columns, strict=True)]
    return (
        f"SELECT {', '.join(columns)}, {_q(RUN_SEQ)}, false AS {_q(IS_DELETED)} FROM {rows}"  # noqa: S608  # nosec B608
        f" UNION ALL SELECT {', '.join(marker)}, {_q(RUN_SEQ)}, true FROM {deleted}"
    )


def history_sql(table: WarehouseTable, relation: str) -> str:
    """Every version of a fact (deletions included) with the run it came from."""
    columns = ", ".join(_q(c) for c in (*table.column_names, RUN_SEQ, IS_DELETED))
    return f"SELECT {columns} FROM {relation}"  # noqa: S608  # nosec B608


def lake_views(relation_of: dict[str, str], deleted_of: dict[str, str]) -> dict[str, str]:
    """View name -> SQL for every warehouse table, named as in the warehouse.

    ``relation_of`` maps each table to the relation holding its committed lake rows plus
    ``RUN_SEQ``; ``deleted_of`` each fact to its deletions (``fact_versions_sql``). Facts give
    ``<fact>`` (the history: every version, as the warehouse's fact table) and
    ``<fact>_current``; dimensions and dim_date give ``<dim>`` (latest member).
    """
    views: dict[str, str] = {}
    for name, table in TABLES.items():
        if table.kind is Kind.FACT:
            versions = f"({fact_versions_sql(table, relation_of[name], deleted_of[name])}) AS all_versions"
            views[name] = history_sql(table, versions)
            views[f"{name}{CURRENT_SUFFIX}"] = latest_sql(table, versions)
        else:
            views[name] = latest_sql(table, relation_of[name])
    return views


DELETED_COLUMNS = ("last_updated_date", "last_updated_time", RUN_SEQ)  # after the fact's key
