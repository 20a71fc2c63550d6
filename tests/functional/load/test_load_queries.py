"""The current-state and history queries documented in docs/load.md return the right rows."""

from __future__ import annotations

import datetime as dt
from typing import Any

from common.s3_store import LakeStore
from load.run import run_load

V1 = dt.datetime(2024, 1, 1, 9, 30, 0, 123000)
V2 = dt.datetime(2024, 1, 2, 8, 0)
V3 = dt.datetime(2024, 1, 3, 8, 0)

CURRENT_ONE = "SELECT units_sold FROM pipeline.fact_sales_order_current WHERE sales_order_id = :id"
HISTORY = (
    "SELECT units_sold FROM fact_sales_order WHERE sales_order_id = :id "
    "ORDER BY last_updated_date, last_updated_time, sales_record_id"
)
AS_OF = (
    "SELECT DISTINCT ON (sales_order_id) sales_order_id, units_sold FROM fact_sales_order "
    "WHERE (last_updated_date + last_updated_time) <= :as_of "
    "ORDER BY sales_order_id, last_updated_date DESC, last_updated_time DESC, sales_record_id DESC"
)


def test_current_state_and_history_queries(
    pipeline: Any, processed: LakeStore, runs: Any, make: Any, loader_con: Any
) -> None:
    runs.commit(
        1,
        {
            **make.base_dimensions(),
            "fact_sales_order": [
                make.sales_order(1, updated=V1, units_sold=1),
                make.sales_order(2, updated=V1, units_sold=20),
            ],
        },
    )
    runs.commit(2, {"fact_sales_order": [make.sales_order(1, updated=V3, units_sold=3)]})
    # A late-committing transaction: version V2 of order 1 arrives after V3 was loaded.
    runs.commit(3, {"fact_sales_order": [make.sales_order(1, updated=V2, units_sold=2)]})
    run_load(processed, loader_con)
    admin = pipeline.warehouse.admin
    assert admin.run(CURRENT_ONE, id=1) == [[3]]  # newest by last_updated, not by load order
    assert admin.run(CURRENT_ONE, id=2) == [[20]]
    assert admin.run("SELECT sales_order_id, units_sold FROM pipeline.fact_sales_order_current") == [[1, 3], [2, 20]]
    assert admin.run(HISTORY, id=1) == [[1], [2], [3]]
    assert admin.run(AS_OF, as_of=dt.datetime(2024, 1, 2, 12, 0)) == [[1, 2], [2, 20]]
    assert admin.run("SELECT count(*) FROM pipeline.fact_payment_current")[0][0] == 0
