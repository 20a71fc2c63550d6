"""Binary COPY (load.binary_copy) stores exactly what the CSV COPY stores, edge values included."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from common.warehouse_tables import TABLES
from load.staging import StagedTable, copy_parquet, open_parquet

MONEY = ["0.00", "0.01", "-0.01", "1.10", "9999.99", "10000.00", "-5.50", "12345678.90", "99999999.99", "-99999999.99"]
TIMES = [dt.time(0), dt.time(23, 59, 59, 999999), dt.time(12, 0, 0, 123000)]
DATES = [dt.date(1970, 1, 1), dt.date(1999, 12, 31), dt.date(2000, 1, 1), dt.date(2024, 2, 29), dt.date(2100, 12, 31)]


def _rows(make: Any, table: str) -> list[dict[str, Any]]:
    rows = []
    for i, money in enumerate(MONEY):
        row = make.sales_order(i) if table == "fact_sales_order" else make.payment(i, paid=bool(i % 2))
        money_col = "unit_price" if table == "fact_sales_order" else "payment_amount"
        row.update(
            {
                money_col: Decimal(money),
                "created_date": DATES[i % len(DATES)],
                "created_time": TIMES[i % len(TIMES)],
                "counterparty_id": [-(2**31), 2**31 - 1, 0][i % 3],
            }
        )
        rows.append(row)
    return rows


@pytest.mark.parametrize("table", ["fact_sales_order", "fact_payment"])
def test_binary_and_csv_copy_store_the_same_values(make: Any, loader_con: Any, table: str) -> None:
    spec = TABLES[table]
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(_rows(make, table), schema=spec.schema), buf)
    cols = ", ".join(spec.column_names)
    loader_con.run("BEGIN")
    try:
        for name, binary in (("via_binary", True), ("via_csv", False)):
            loader_con.run(f"CREATE TEMPORARY TABLE {name} AS SELECT {cols} FROM {table} WITH NO DATA")
            buf.seek(0)
            # batch_rows=3: several batches, so the encoder also sees sliced columns.
            copy_parquet(loader_con, open_parquet(spec, buf), StagedTable(spec, staging=name), name, 3, binary=binary)
        assert loader_con.run("SELECT count(*) FROM via_binary") == [[len(MONEY)]]
        assert loader_con.run("SELECT * FROM via_binary EXCEPT ALL SELECT * FROM via_csv") == []
        assert loader_con.run("SELECT * FROM via_csv EXCEPT ALL SELECT * FROM via_binary") == []
        money_col = "unit_price" if table == "fact_sales_order" else "payment_amount"
        stored = [r[0] for r in loader_con.run(f"SELECT {money_col}::text FROM via_binary ORDER BY 1")]
        assert sorted(stored) == sorted(MONEY)  # scale 2 kept: '1.10', not '1.1'
    finally:
        loader_con.run("ROLLBACK")
