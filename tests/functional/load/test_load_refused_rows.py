"""Rows the warehouse refuses never freeze loading (load.refused): they are quarantined in
pipeline.load_quarantine, the rest of the run commits, and later runs load.

Each processed run here is written straight to the contract, so it can carry what transform
would never ship (a year-0 date, a value a CHECK added to the warehouse refuses): the
load stage's own safety net is what is tested. On the old code every one of these runs
failed on every retry and held all later runs back.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from common.s3_store import LakeStore
from common.warehouse_tables import TABLES
from load.errors import WarehouseLoadError
from load.run import run_load
from load.upsert import BULK_MIN_ROWS

YEAR_0_DAY = -719_528  # 0000-01-01 as days since 1970-01-01: Arrow holds it, PostgreSQL's text input refuses it


def _with_day(table: str, rows: list[dict[str, Any]], column: str, index: int, day: int) -> bytes:
    """Parquet of ``rows`` with ``column`` of row ``index`` set to ``day`` (a date Python cannot make)."""
    data = pa.Table.from_pylist(rows, schema=TABLES[table].schema)
    days = data.column(column).cast(pa.int32()).to_pylist()
    days[index] = day
    data = data.set_column(
        data.schema.get_field_index(column),
        TABLES[table].schema.field(column),
        pa.array(days, pa.int32()).cast(pa.date32()),
    )
    buf = io.BytesIO()
    pq.write_table(data, buf)
    return buf.getvalue()


def _quarantine(admin: Any) -> list[tuple[int, str, str, dict[str, Any]]]:
    rows = admin.run(
        "SELECT run_seq, table_name, reason, row_data FROM pipeline.load_quarantine ORDER BY quarantine_id"
    )
    return [(r[0], r[1], r[2], r[3] if isinstance(r[3], dict) else json.loads(r[3])) for r in rows]


def test_a_year_0_date_is_quarantined_and_the_run_and_later_runs_load(
    pipeline: Any, processed: LakeStore, runs: Any, make: Any, loader_con: Any
) -> None:
    orders = [make.sales_order(i) for i in range(1, 6)]
    dates = [{"date_id": o["agreed_delivery_date"], "year": 2024, "month": 3, "day": 31, "day_of_week": 7,
              "day_name": "Sunday", "month_name": "March", "quarter": 1} for o in orders[:1]]  # fmt: skip
    runs.commit(
        1,
        make.base_dimensions(),
        raw={
            "fact_sales_order": _with_day("fact_sales_order", orders, "agreed_delivery_date", 2, YEAR_0_DAY),
            "dim_date": _with_day("dim_date", dates, "date_id", 0, YEAR_0_DAY),
        },
    )
    runs.commit(2, {"fact_sales_order": [make.sales_order(6)]})

    result = run_load(processed, loader_con)

    assert [r.run_seq for r in result.runs] == [1, 2]
    assert result.runs[0].rows_quarantined == 2
    admin = pipeline.warehouse.admin
    assert sorted(r[0] for r in admin.run("SELECT sales_order_id FROM fact_sales_order")) == [1, 2, 4, 5, 6]
    quarantined = _quarantine(admin)
    assert [(q[0], q[1]) for q in quarantined] == [(1, "dim_date"), (1, "fact_sales_order")]
    for _, _, reason, _ in quarantined:
        assert reason.startswith("refused by the warehouse: 22008"), reason
    assert quarantined[0][3]["date_id"] == "0000-01-01"
    assert quarantined[1][3]["sales_order_id"] == 3
    assert quarantined[1][3]["agreed_delivery_date"] == "0000-01-01"
    ledger = admin.run("SELECT run_seq, rows_quarantined FROM pipeline.load_ledger ORDER BY 1")
    assert ledger == [[1, 2], [2, 0]]


def test_a_value_a_warehouse_check_refuses_is_quarantined_in_a_dimension_and_a_fact(
    pipeline: Any, processed: LakeStore, runs: Any, make: Any, loader_con: Any
) -> None:
    """Class 23 in the set-based steps (upsert, INSERT ... SELECT), not in COPY."""
    admin = pipeline.warehouse.admin
    admin.run("ALTER TABLE dim_design ADD CONSTRAINT no_poison CHECK (design_name <> 'Poison')")
    admin.run("ALTER TABLE fact_sales_order ADD CONSTRAINT units_positive CHECK (units_sold > 0)")
    dims = make.base_dimensions()
    dims["dim_design"] = [make.design(1), make.design(2, "Poison"), make.design(3)]
    orders = [make.sales_order(i, design_id=1 + i % 3) for i in range(1, 9)]
    orders[4]["units_sold"] = -1  # sales order 5
    runs.commit(1, {**dims, "fact_sales_order": orders})

    result = run_load(processed, loader_con)

    assert result.runs[0].rows_quarantined == 2
    assert sorted(r[0] for r in admin.run("SELECT design_id FROM dim_design")) == [1, 2, 3]
    # Design 2 was refused, so the facts that reference it got an inferred member instead.
    assert admin.run("SELECT design_name FROM dim_design WHERE design_id = 2") == [["Unknown (inferred)"]]
    assert sorted(r[0] for r in admin.run("SELECT sales_order_id FROM fact_sales_order")) == [1, 2, 3, 4, 6, 7, 8]
    quarantined = _quarantine(admin)
    assert [(q[1], q[2].split(":")[1].strip()) for q in quarantined] == [
        ("dim_design", "23514"),
        ("fact_sales_order", "23514"),
    ]
    assert quarantined[0][3]["design_name"] == "Poison"
    assert quarantined[1][3]["sales_order_id"] == 5


def test_the_direct_fact_path_ends_in_quarantine_too(
    pipeline: Any, processed: LakeStore, runs: Any, make: Any, loader_con: Any
) -> None:
    """A bulk-sized fact goes COPY-straight-into-the-fact; a refused row there still only costs itself."""
    admin = pipeline.warehouse.admin
    admin.run("ALTER TABLE fact_sales_order ADD CONSTRAINT units_positive CHECK (units_sold > 0)")
    n = BULK_MIN_ROWS
    template = make.sales_order(0)
    columns = {name: [value] * n for name, value in template.items()}
    columns["sales_order_id"] = list(range(1, n + 1))
    table = pa.Table.from_pydict(columns, schema=TABLES["fact_sales_order"].schema)
    bad = pc.equal(table.column("sales_order_id"), pa.scalar(n // 3, pa.int32()))
    table = table.set_column(
        table.schema.get_field_index("units_sold"),
        TABLES["fact_sales_order"].schema.field("units_sold"),
        pc.if_else(bad, pa.scalar(-1, pa.int32()), table.column("units_sold")),
    )
    buf = io.BytesIO()
    pq.write_table(table, buf)
    runs.commit(1, make.base_dimensions(), raw={"fact_sales_order": buf.getvalue()})

    result = run_load(processed, loader_con)

    assert result.runs[0].rows_quarantined == 1
    assert admin.run("SELECT count(*) FROM fact_sales_order")[0][0] == n - 1
    assert [(q[1], q[3]["sales_order_id"]) for q in _quarantine(admin)] == [("fact_sales_order", n // 3)]


def test_infrastructure_errors_still_fail_the_invocation_for_a_retry(
    pipeline: Any, processed: LakeStore, runs: Any, make: Any, loader_con: Any
) -> None:
    """A read-only warehouse (SQLSTATE 25006) is not the data's fault: nothing is quarantined."""
    runs.commit(1, {**make.base_dimensions(), "fact_sales_order": [make.sales_order(1)]})
    admin = pipeline.warehouse.admin
    admin.run(f"ALTER DATABASE {pipeline.warehouse.name} SET default_transaction_read_only = on")
    con = pipeline.warehouse.connect()
    with pytest.raises(WarehouseLoadError):
        run_load(processed, con)
    assert admin.run("SELECT count(*) FROM pipeline.load_quarantine")[0][0] == 0
    admin.run(f"ALTER DATABASE {pipeline.warehouse.name} RESET default_transaction_read_only")
    assert run_load(processed, pipeline.warehouse.connect()).runs_committed == 1
