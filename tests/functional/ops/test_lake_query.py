"""The lake as tables answers the warehouse's questions with the warehouse's numbers, after the
real stages ran two cycles and a comparison (a deletion and a same-timestamp correction):
``ops.lake_query`` (DuckDB over the processed bucket in moto), and the Athena views
(``ops.lake_catalog``'s Presto SQL), run on DuckDB over the same objects as Athena reads them."""

from __future__ import annotations

import datetime as dt
import io
import json

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from cli.main import app
from common.s3_store import LakeStore
from common.warehouse_tables import FACTS, TABLES, Kind
from lake.keys import RUNS_PREFIX, table_prefix
from lake.views import latest_sql
from local.generator import seed_database
from local.simulator import simulate_changes
from ops.lake_catalog import catalog
from ops.lake_query import open_lake, query, s3_filesystem
from ops.runner import compare_event

# Each question is one SQL text, run unchanged on both (the lake names its views as the warehouse does).
SALES_BY_MONTH_AND_CURRENCY = """
SELECT d.year, d.month, c.currency_code, count(*) AS orders, sum(f.units_sold) AS units,
       sum(f.units_sold * f.unit_price) AS revenue
FROM pipeline.fact_sales_order_current f
JOIN dim_date d ON d.date_id = f.created_date
JOIN dim_currency c ON c.currency_id = f.currency_id
GROUP BY d.year, d.month, c.currency_code
ORDER BY d.year, d.month, c.currency_code
"""
ORDER_HISTORY = """
SELECT sales_order_id, last_updated_date, last_updated_time, units_sold, unit_price, agreed_delivery_date
FROM fact_sales_order WHERE sales_order_id = {order}
ORDER BY last_updated_date, last_updated_time, units_sold
"""
CHANGED_ORDER = "SELECT min(sales_order_id) FROM fact_sales_order GROUP BY sales_order_id HAVING count(*) > 1 LIMIT 1"
DELETED_IDS = "SELECT {key} FROM pipeline.{fact}_history WHERE is_current AND is_deleted ORDER BY 1"


@pytest.fixture
def two_cycles(pipeline, deployed_handlers, stack):
    """Seeded totesys, one cycle, a batch of simulated changes, a second cycle (facts with
    history), then a comparison: one sales order and one payment deleted at the source, one
    sales order corrected in place under the same last_updated (a version tied on timestamp)."""
    res, runner = pipeline.resources, deployed_handlers.runner(pipeline)
    source = pipeline.source.admin
    seed_database(source, seed=5, scale=0.05)
    for batch in range(2):
        cycle = runner.run_cycle()
        assert cycle.ok, [(i.function, i.error) for i in cycle.failures]
        if batch == 0:
            simulate_changes(source, seed=6)
    source.run("DELETE FROM sales_order WHERE sales_order_id = (SELECT max(sales_order_id) FROM sales_order)")
    source.run("DELETE FROM payment WHERE payment_id = (SELECT max(payment_id) FROM payment)")
    source.run("UPDATE sales_order SET units_sold = units_sold + 1000"
               " WHERE sales_order_id = (SELECT min(sales_order_id) FROM sales_order)")  # fmt: skip
    cycle = runner.run_cycle(ingestion_event=compare_event())
    assert cycle.ok, [(i.function, i.error) for i in cycle.failures]
    store = LakeStore(res.processed_bucket, pipeline.aws.s3)
    lake = open_lake(store, s3_filesystem(stack.moto.env()))
    wh = pipeline.warehouse.connect()
    yield pipeline, store, lake, wh
    wh.close()
    lake.close()


def _warehouse(wh, sql: str) -> list[tuple]:
    return [tuple(r) for r in wh.run(sql)]


def test_lake_and_warehouse_answer_the_same_questions_with_the_same_numbers(two_cycles) -> None:
    """Sales by month and currency, a changed order's history, and row for row every table's
    current state (the lake's views against the warehouse's own), deletions and the
    same-timestamp correction included. One test: the cycles behind it are the expensive part."""
    _pipeline, _store, lake, wh = two_cycles
    for fact in ("fact_sales_order", "fact_payment"):
        key = TABLES[fact].key
        assert len(_warehouse(wh, DELETED_IDS.format(key=key, fact=fact))) == 1, f"the comparison deleted a {fact}"
        assert query(lake, f"SELECT {key} FROM {fact} WHERE is_deleted ORDER BY 1")[1] == _warehouse(
            wh, DELETED_IDS.format(key=key, fact=fact)
        )
    expected = _warehouse(wh, SALES_BY_MONTH_AND_CURRENCY)
    assert len(expected) > 3
    assert query(lake, SALES_BY_MONTH_AND_CURRENCY)[1] == expected

    order = int(wh.run(CHANGED_ORDER)[0][0])
    expected = _warehouse(wh, ORDER_HISTORY.format(order=order))
    assert len(expected) >= 2, "the simulator changed the order: two versions"
    columns, rows = query(lake, ORDER_HISTORY.format(order=order))
    assert columns[0] == "sales_order_id"
    assert rows == expected

    for name, table in TABLES.items():
        view = f"pipeline.{name}_current" if table.kind is Kind.FACT else name
        listed = ", ".join(table.column_names)
        sql = f"SELECT {listed} FROM {view} ORDER BY {listed}"
        assert query(lake, sql)[1] == _warehouse(wh, sql), name

    # The one definition of "current" (lake.views.latest_sql) over the warehouse's own fact
    # tables, the surrogate key as the tie-break, is exactly migration 003's views.
    for table in TABLES.values():
        if table.kind is not Kind.FACT:
            continue
        listed = ", ".join(table.column_names)
        ours = latest_sql(table, f"public.{table.name}", tiebreak=table.surrogate_key)
        mine = _warehouse(wh, f"SELECT {listed} FROM ({ours}) AS v ORDER BY {listed}")
        assert mine, table.name
        assert mine == _warehouse(wh, f"SELECT {listed} FROM pipeline.{table.name}_current ORDER BY {listed}")


def test_objects_of_a_failed_attempt_are_not_read(two_cycles, stack) -> None:
    """A copy of a committed object under another attempt id (what a crashed transform leaves
    behind) doubles nothing: only the objects a commit record names are tables, for DuckDB
    and for the Athena views (which read every object under the prefix)."""
    pipeline, store, _lake, wh = two_cycles
    s3 = pipeline.aws.s3
    committed = [
        k["Key"] for k in s3.list_objects_v2(Bucket=store.bucket, Prefix="tables/fact_sales_order/")["Contents"]
    ]
    orphan = committed[0].rsplit("-", 1)[0] + "-0123456789ab.parquet"
    s3.copy_object(Bucket=store.bucket, Key=orphan, CopySource={"Bucket": store.bucket, "Key": committed[0]})
    lake = open_lake(store, s3_filesystem(stack.moto.env()))
    try:
        assert query(lake, SALES_BY_MONTH_AND_CURRENCY)[1] == _warehouse(wh, SALES_BY_MONTH_AND_CURRENCY)
    finally:
        lake.close()
    _athena_views_answer_as_the_warehouse(s3, store.bucket, wh)


# -- the Athena catalogue's views, run on DuckDB over the objects as Athena's tables read them ----


def _athena_tables(s3, bucket: str) -> duckdb.DuckDBPyConnection:
    """What the Glue tables give Athena: every object under each table's prefix (orphans
    included) with its ``$path``, times as microseconds (the tables declare them bigint), and
    the commit records (``transform_runs``) as the Ion SerDe reads them."""
    con = duckdb.connect()

    def keys(prefix: str) -> list[str]:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return [o["Key"] for page in pages for o in page.get("Contents", [])]

    def body(key: str) -> bytes:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()

    for name, table in TABLES.items():
        schema = pa.schema([(f.name, pa.int64() if pa.types.is_time64(f.type) else f.type) for f in table.schema])
        parts = []
        for key in keys(table_prefix(name)):
            part = pq.read_table(io.BytesIO(body(key))).select(list(table.column_names)).cast(schema)
            parts.append(part.append_column("$path", pa.array([f"s3://{bucket}/{key}"] * part.num_rows, pa.string())))
        empty = schema.empty_table().append_column("$path", pa.array([], pa.string()))
        con.register(f"objects_{name}", pa.concat_tables(parts) if parts else empty)
    entry = pa.struct([("observed_at", pa.string()), ("ids", pa.list_(pa.int32()))])
    runs_schema = pa.schema(
        [("run_seq", pa.int32()), ("attempt", pa.string()), ("deletions", pa.struct([(f, entry) for f in FACTS]))]
    )
    docs = [json.loads(body(key)) for key in keys(RUNS_PREFIX)]
    con.register("transform_runs", pa.Table.from_pylist(docs, schema=runs_schema))
    for name, view in catalog()["views"].items():  # in dependency order
        con.execute(f'CREATE VIEW "{name}" AS {view["sql"]}')
    return con


def _micros(value):
    if isinstance(value, dt.time):
        return ((value.hour * 60 + value.minute) * 60 + value.second) * 1_000_000 + value.microsecond
    return value


def _athena_views_answer_as_the_warehouse(s3, bucket: str, wh) -> None:
    athena = _athena_tables(s3, bucket)
    try:
        sql = SALES_BY_MONTH_AND_CURRENCY.replace("pipeline.", "")  # one Glue database holds every view
        assert athena.sql(sql).fetchall() == _warehouse(wh, SALES_BY_MONTH_AND_CURRENCY)
        for fact in FACTS:
            listed = ", ".join(TABLES[fact].column_names)
            sql = f"SELECT {listed} FROM {{view}} ORDER BY {listed}"
            warehouse = _warehouse(wh, sql.format(view=f"pipeline.{fact}_current"))
            expected = [tuple(_micros(v) for v in row) for row in warehouse]
            assert athena.sql(sql.format(view=f'"{fact}_current"')).fetchall() == expected, fact
    finally:
        athena.close()


# -- the command: `totes lake query` ------------------------------------------------------------


@pytest.fixture
def one_cycle_outputs(pipeline, deployed_handlers, write_outputs):
    """A small totesys through one cycle; the Terraform-style outputs file naming its buckets."""
    res, runner = pipeline.resources, deployed_handlers.runner(pipeline)
    seed_database(pipeline.source.admin, seed=7, scale=0.01)
    cycle = runner.run_cycle()
    assert cycle.ok, [(i.function, i.error) for i in cycle.failures]
    return pipeline, str(write_outputs(res))


def test_totes_lake_query_prints_the_warehouses_numbers_and_names_what_failed_where(one_cycle_outputs) -> None:
    pipeline, outputs = one_cycle_outputs
    cli = CliRunner()
    sql = "SELECT currency_id, count(*) AS orders FROM pipeline.fact_sales_order_current GROUP BY 1 ORDER BY 1"
    result = cli.invoke(app, ["lake", "query", sql, "--csv", "--outputs", outputs])
    assert result.exit_code == 0, (result.output, result.exception)
    expected = pipeline.warehouse.admin.run(sql)
    assert len(expected) >= 1
    assert result.output.splitlines() == ["currency_id,orders", *(f"{c},{n}" for c, n in expected)]

    table = cli.invoke(app, ["lake", "query", "SELECT count(*) AS designs FROM dim_design", "--outputs", outputs])
    assert table.exit_code == 0, (table.output, table.exception)
    designs = pipeline.warehouse.admin.run("SELECT count(*) FROM dim_design")[0][0]
    assert "designs" in table.output
    assert f"{designs}" in table.output
    assert "1 rows" in table.output

    bucket = pipeline.resources.processed_bucket
    for bad, says in (("SELEC 1", "syntax error"), ("SELECT * FROM no_such_view", "no_such_view")):
        failed = cli.invoke(app, ["lake", "query", bad, "--outputs", outputs])
        assert failed.exit_code == 1, failed.output
        assert isinstance(failed.exception, SystemExit), failed.exception  # a message, not a traceback
        said = " ".join(failed.output.split())
        assert f"Lake query failed (DuckDB over s3://{bucket})" in said, said
        assert says in said, said
        assert "Traceback" not in said
