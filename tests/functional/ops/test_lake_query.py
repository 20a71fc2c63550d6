"""The lake as tables (``ops.lake_query``: DuckDB over the processed bucket in moto) answers the
warehouse's questions with the warehouse's numbers, after the real stages ran two cycles."""

from __future__ import annotations

import io

import pytest

from common.s3_store import LakeStore
from common.warehouse_tables import TABLES, Kind
from lake.views import latest_sql
from local.generator import seed_database
from local.simulator import simulate_changes
from ops.lake_query import open_lake, query, s3_filesystem
from ops.runner import PipelineRunner

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
ORDER BY last_updated_date, last_updated_time
"""
CHANGED_ORDER = "SELECT min(sales_order_id) FROM fact_sales_order GROUP BY sales_order_id HAVING count(*) > 1 LIMIT 1"


@pytest.fixture
def two_cycles(pipeline, deployed_handlers, stack):
    """Seeded totesys, one cycle, a batch of simulated changes, a second cycle: facts with history."""
    res = pipeline.resources
    runner = PipelineRunner(
        s3=pipeline.aws.s3,
        lambda_client=deployed_handlers.lambda_client,
        ingestion_function=f"{deployed_handlers.prefix}-ingestion",
        buckets=[res.ingest_bucket, res.processed_bucket],
        log_sink=io.StringIO(),
    )
    seed_database(pipeline.source.admin, seed=5, scale=0.05)
    for batch in range(2):
        cycle = runner.run_cycle()
        assert cycle.ok, [(i.function, i.error) for i in cycle.failures]
        if batch == 0:
            simulate_changes(pipeline.source.admin, seed=6)
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
    current state (the lake's views against the warehouse's own). One test: the two cycles
    behind it are the expensive part."""
    _pipeline, _store, lake, wh = two_cycles
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
    behind) doubles nothing: only the objects a commit record names are tables."""
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
