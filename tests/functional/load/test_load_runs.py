"""run_load against real PostgreSQL and moto: full, incremental, ordering, idempotency, inferred members."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pg8000.native
import pytest

from common.s3_store import LakeStore
from lake.errors import CommitRecordError
from load.errors import ParquetSchemaError
from load.run import run_load

T1 = dt.datetime(2024, 1, 2, 10, 0, 0, 500000)
T2 = dt.datetime(2024, 1, 3, 11, 0, 0)


def count(admin: pg8000.native.Connection, table: str) -> int:
    return admin.run(f"SELECT count(*) FROM {pg8000.native.identifier(table)}")[0][0]


def ledger(admin: pg8000.native.Connection) -> list[list[Any]]:
    return admin.run("SELECT run_seq, previous_run_seq FROM pipeline.load_ledger ORDER BY run_seq")


def test_full_then_incremental_run(pipeline: Any, processed: LakeStore, runs: Any, make: Any, loader_con: Any) -> None:
    runs.commit(
        1,
        {
            **make.base_dimensions(),
            "fact_sales_order": [make.sales_order(1), make.sales_order(2)],
            "fact_purchase_order": [make.purchase_order(1)],
            "fact_payment": [make.payment(1)],
        },
    )
    first = run_load(processed, loader_con)
    admin = pipeline.warehouse.admin
    assert [r.run_seq for r in first.runs] == [1]
    assert first.runs[0].loaded["fact_sales_order"] == 2
    assert (count(admin, "fact_sales_order"), count(admin, "fact_purchase_order"), count(admin, "fact_payment")) == (
        2,
        1,
        1,
    )
    assert count(admin, "dim_staff") == 1

    runs.commit(
        2, {"fact_sales_order": [make.sales_order(3, updated=T1), make.sales_order(1, updated=T1, units_sold=11)]}
    )
    second = run_load(processed, loader_con)
    assert [r.run_seq for r in second.runs] == [2]
    assert count(admin, "fact_sales_order") == 4  # one new order, one new version of order 1
    assert ledger(admin) == [[1, 0], [2, 1]]
    row = admin.run("SELECT rows_per_table, max_source_last_updated FROM pipeline.load_ledger WHERE run_seq = 2")[0]
    assert row[0]["fact_sales_order"] == {"staged": 2, "loaded": 2}
    assert row[1] == T1
    # money stays exact and the times keep their microseconds
    price, lu_time = admin.run("SELECT unit_price, last_updated_time FROM fact_sales_order WHERE sales_order_id = 3")[0]
    assert price == Decimal("2.50")
    assert lu_time == T1.time()


def test_dim_date_generated_for_every_fact_date(
    pipeline: Any, processed: LakeStore, runs: Any, make: Any, loader_con: Any
) -> None:
    runs.commit(1, {**make.base_dimensions(), "fact_sales_order": [make.sales_order(1)]})
    run_load(processed, loader_con)
    admin = pipeline.warehouse.admin
    rows = admin.run(
        "SELECT date_id, year, month, day, day_of_week, day_name, month_name, quarter FROM dim_date ORDER BY date_id"
    )
    assert rows == [
        [dt.date(2024, 1, 1), 2024, 1, 1, 1, "Monday", "January", 1],
        [dt.date(2024, 2, 29), 2024, 2, 29, 4, "Thursday", "February", 1],
        [dt.date(2024, 3, 31), 2024, 3, 31, 7, "Sunday", "March", 1],
    ]


def test_heartbeat_run_writes_a_ledger_row(pipeline: Any, processed: LakeStore, runs: Any, loader_con: Any) -> None:
    runs.commit(1)
    result = run_load(processed, loader_con)
    assert result.runs_committed == 1
    assert result.runs[0].rows_loaded == 0
    assert ledger(pipeline.warehouse.admin) == [[1, 0]]


def test_duplicate_delivery_is_a_no_op(
    pipeline: Any, processed: LakeStore, runs: Any, make: Any, loader_con: Any
) -> None:
    runs.commit(1, {**make.base_dimensions(), "fact_sales_order": [make.sales_order(1)]})
    assert run_load(processed, loader_con).runs_committed == 1
    again = run_load(processed, loader_con)
    assert again.runs_committed == 0
    assert again.last_loaded_seq == 1
    assert count(pipeline.warehouse.admin, "fact_sales_order") == 1


def test_out_of_order_delivery_catches_up_in_order(
    pipeline: Any, processed: LakeStore, runs: Any, make: Any, loader_con: Any
) -> None:
    runs.commit(1, {**make.base_dimensions(), "fact_sales_order": [make.sales_order(1)]})
    run_load(processed, loader_con)
    runs.commit(2, {"dim_design": [make.design(1, name="Steel")]})
    runs.commit(3, {"dim_design": [make.design(1, name="Bronze")]})
    # Whatever event woke it (the one for run 3, say), the loader applies 2 before 3.
    result = run_load(processed, loader_con)
    assert [r.run_seq for r in result.runs] == [2, 3]
    admin = pipeline.warehouse.admin
    assert admin.run("SELECT design_name FROM dim_design WHERE design_id = 1") == [["Bronze"]]
    assert ledger(admin) == [[1, 0], [2, 1], [3, 2]]


def test_gap_in_processed_runs_is_stepped_over_with_a_warning(
    pipeline: Any, processed: LakeStore, runs: Any, make: Any, loader_con: Any
) -> None:
    runs.commit(1, make.base_dimensions())
    runs.commit(3, {"fact_sales_order": [make.sales_order(1)]})
    result = run_load(processed, loader_con)
    assert [r.run_seq for r in result.runs] == [1, 3]
    assert result.gaps == (2,)
    assert ledger(pipeline.warehouse.admin) == [[1, 0], [3, 1]]


def test_dimension_change_and_fact_change_in_one_run(
    pipeline: Any, processed: LakeStore, runs: Any, make: Any, loader_con: Any
) -> None:
    runs.commit(1, {**make.base_dimensions(), "fact_sales_order": [make.sales_order(1)]})
    run_load(processed, loader_con)
    runs.commit(
        2,
        {
            "dim_staff": [make.staff(1, first_name="Janet")],
            "fact_sales_order": [make.sales_order(1, updated=T1, units_sold=99)],
        },
    )
    result = run_load(processed, loader_con)
    assert result.runs[0].loaded == {"dim_staff": 1, "fact_sales_order": 1}
    admin = pipeline.warehouse.admin
    assert admin.run("SELECT first_name FROM dim_staff") == [["Janet"]]
    assert admin.run("SELECT units_sold FROM pipeline.fact_sales_order_current WHERE sales_order_id = 1") == [[99]]
    assert admin.run("SELECT units_sold FROM fact_sales_order ORDER BY sales_record_id") == [[10], [99]]


def test_unchanged_dimension_rows_are_not_rewritten(
    pipeline: Any, processed: LakeStore, runs: Any, make: Any, loader_con: Any
) -> None:
    runs.commit(1, make.base_dimensions())
    runs.commit(2, {"dim_staff": [make.staff(1)], "dim_design": [make.design(1), make.design(1, name="Last wins")]})
    result = run_load(processed, loader_con)
    assert result.runs[1].loaded == {"dim_design": 1, "dim_staff": 0}
    assert pipeline.warehouse.admin.run("SELECT design_name FROM dim_design") == [["Last wins"]]


def test_never_arrived_member_is_inferred_then_completed(
    pipeline: Any, processed: LakeStore, runs: Any, make: Any, loader_con: Any
) -> None:
    runs.commit(1, {**make.base_dimensions(), "fact_sales_order": [make.sales_order(1, design_id=99, currency_id=7)]})
    first = run_load(processed, loader_con)
    admin = pipeline.warehouse.admin
    assert first.runs[0].inferred_members == 2
    assert count(admin, "fact_sales_order") == 1  # the fact is kept, not dropped
    assert admin.run("SELECT design_name, file_name FROM dim_design WHERE design_id = 99") == [
        ["Unknown (inferred)", "Unknown (inferred)"]
    ]
    assert admin.run("SELECT currency_code FROM dim_currency WHERE currency_id = 7") == [["XXX"]]
    assert admin.run(
        "SELECT table_name, member_id, referenced_by, inferred_run_seq, completed_run_seq "
        "FROM pipeline.inferred_member ORDER BY table_name"
    ) == [["dim_currency", 7, "fact_sales_order", 1, None], ["dim_design", 99, "fact_sales_order", 1, None]]

    runs.commit(2, {"dim_design": [make.design(99, name="Late arrival")]})
    run_load(processed, loader_con)
    assert admin.run("SELECT design_name FROM dim_design WHERE design_id = 99") == [["Late arrival"]]
    assert admin.run("SELECT member_id, completed_run_seq FROM pipeline.inferred_member ORDER BY member_id") == [
        [7, None],
        [99, 2],
    ]
    # A later fact that references the (now real) member infers nothing.
    runs.commit(3, {"fact_sales_order": [make.sales_order(2, design_id=99)]})
    assert run_load(processed, loader_con).runs[0].inferred_members == 0


def test_ledger_bypass_stores_no_fact_version_twice(
    pipeline: Any, processed: LakeStore, runs: Any, make: Any, loader_con: Any
) -> None:
    runs.commit(
        1,
        {
            **make.base_dimensions(),
            "fact_sales_order": [make.sales_order(1), make.sales_order(2)],
            "fact_payment": [make.payment(1)],
        },
    )
    run_load(processed, loader_con)
    admin = pipeline.warehouse.admin
    admin.run("DELETE FROM pipeline.load_ledger")  # as if the ledger had been bypassed or lost
    result = run_load(processed, loader_con)
    assert result.runs[0].loaded["fact_sales_order"] == 0
    assert result.runs[0].loaded["fact_payment"] == 0
    assert count(admin, "fact_sales_order") == 2
    assert count(admin, "fact_payment") == 1
    # The same version twice inside one file is stored once as well.
    runs.commit(2, {"fact_sales_order": [make.sales_order(5, updated=T2), make.sales_order(5, updated=T2)]})
    assert run_load(processed, loader_con).runs[0].loaded["fact_sales_order"] == 1


def test_null_in_required_column_is_quarantined_not_fatal(
    pipeline: Any, processed: LakeStore, runs: Any, make: Any, loader_con: Any
) -> None:
    import pyarrow as pa

    from common.warehouse_tables import TABLES

    # A producer whose schema marks every field nullable can write a NULL the warehouse refuses.
    loose = pa.schema([f.with_nullable(True) for f in TABLES["fact_sales_order"].schema])
    body = make.parquet_bytes("x", [make.sales_order(1), make.sales_order(2, units_sold=None, design_id=99)], loose)
    runs.commit(1, make.base_dimensions(), raw={"fact_sales_order": body})
    result = run_load(processed, loader_con)
    admin = pipeline.warehouse.admin
    assert result.runs[0].rows_quarantined == 1
    # The member only the quarantined row references is inferred all the same (upsert.infer_for_staged).
    assert result.runs[0].inferred_members == 1
    assert admin.run("SELECT member_id, referenced_by FROM pipeline.inferred_member") == [[99, "fact_sales_order"]]
    assert admin.run("SELECT sales_order_id FROM fact_sales_order") == [[1]]
    table, reason, row = admin.run("SELECT table_name, reason, row_data FROM pipeline.load_quarantine")[0]
    assert table == "fact_sales_order"
    assert "units_sold" in reason
    assert row["sales_order_id"] == 2


def test_schema_mismatch_fails_and_loads_nothing(
    pipeline: Any, processed: LakeStore, runs: Any, make: Any, loader_con: Any
) -> None:
    import pyarrow as pa

    from common.warehouse_tables import TABLES

    schema = TABLES["fact_sales_order"].schema
    floaty = schema.set(schema.get_field_index("unit_price"), pa.field("unit_price", pa.float64(), nullable=False))
    row = {**make.sales_order(1), "unit_price": 2.5}
    runs.commit(1, make.base_dimensions(), raw={"fact_sales_order": make.parquet_bytes("x", [row], floaty)})
    with pytest.raises(ParquetSchemaError, match="unit_price is double"):
        run_load(processed, loader_con)
    admin = pipeline.warehouse.admin
    assert count(admin, "dim_staff") == 0
    assert ledger(admin) == []


def test_row_count_differing_from_commit_record_fails(
    pipeline: Any, processed: LakeStore, make: Any, loader_con: Any
) -> None:
    body = make.parquet_bytes("dim_staff", [make.staff(1)])
    processed.put_new("tables/dim_staff/0000000001-abc.parquet", body)
    processed.put_new_json(
        "runs/0000000001.json",
        {
            "format": 1,
            "run_seq": 1,
            "attempt": "abc",
            "tables": {"dim_staff": {"key": "tables/dim_staff/0000000001-abc.parquet", "rows": 2}},
        },
    )
    with pytest.raises(CommitRecordError, match="holds 1 rows"):
        run_load(processed, loader_con)
    assert ledger(pipeline.warehouse.admin) == []
