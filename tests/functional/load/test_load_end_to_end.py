"""The real producer's output loads: ingestion -> transform -> load handlers on a seeded totesys."""

from __future__ import annotations

from typing import Any

import pytest


def test_seeded_source_flows_into_the_warehouse(pipeline: Any) -> None:
    generator = pytest.importorskip("local.generator")
    ingestion = pytest.importorskip("ingestion.handler")
    transform = pytest.importorskip("transform.handler")
    from load.handler import lambda_handler

    generator.seed_database(pipeline.source.admin, seed=3, scale=0.05)
    ingestion.lambda_handler({}, None)
    transform.lambda_handler({}, None)
    summary = lambda_handler({}, None)
    assert summary["run_seqs"] == [1]
    src, wh = pipeline.source.admin, pipeline.warehouse.admin
    for source, fact in (("sales_order", "fact_sales_order"), ("payment", "fact_payment")):
        assert wh.run(f"SELECT count(*) FROM {fact}")[0][0] == src.run(f"SELECT count(*) FROM {source}")[0][0]
    assert wh.run("SELECT count(*) FROM pipeline.inferred_member")[0][0] == 0
    # Current state equals the source row for row (money exact).
    got = wh.run("SELECT sales_order_id, units_sold, unit_price FROM pipeline.fact_sales_order_current ORDER BY 1")
    want = src.run("SELECT sales_order_id, units_sold, unit_price FROM sales_order ORDER BY 1")
    assert got == want
