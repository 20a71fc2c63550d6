"""SPEC §2 "Deletion", "Changes that do not touch last_updated", "Current version" in the warehouse:
a correction with the same last_updated is a new version and becomes current; a re-delivered
identical version is still stored once; a deletion version copies the last known values,
is current, and the current-state views leave it out; migration 005 keeps existing data."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

from load.run import run_load
from load.schema import migrate, migrations_dir
from load.summaries import fold_pending

T1 = dt.datetime(2024, 1, 2, 10, 0, 0, 500000)
OBSERVED = "2024-06-01T12:00:00.250"


def _versions(admin: Any, order: int) -> list[list[Any]]:
    return admin.run(
        "SELECT units_sold, last_updated_date, last_updated_time, is_deleted, is_current"
        " FROM pipeline.fact_sales_order_history WHERE sales_order_id = :o ORDER BY sales_record_id",
        o=order,
    )


def test_same_timestamp_correction_is_a_new_current_version_and_redelivery_is_stored_once(
    pipeline: Any, processed: Any, runs: Any, make: Any, loader_con: Any
) -> None:
    admin = pipeline.warehouse.admin
    runs.commit(1, {**make.base_dimensions(), "fact_sales_order": [make.sales_order(1, updated=T1, units_sold=10)]})
    runs.commit(2, {"fact_sales_order": [make.sales_order(1, updated=T1, units_sold=12)]})  # fixed in place
    runs.commit(3, {"fact_sales_order": [make.sales_order(1, updated=T1, units_sold=12)]})  # the same, again
    run_load(processed, loader_con)
    assert [v[0] for v in _versions(admin, 1)] == [10, 12]
    assert _versions(admin, 1)[1][4] is True  # ties on last_updated: the later load is current
    assert admin.run("SELECT units_sold FROM pipeline.fact_sales_order_current WHERE sales_order_id = 1") == [[12]]
    fold_pending(loader_con)
    total = "SELECT orders, units FROM analytics.sales_summary WHERE breakdown = 'total' AND period = '-infinity'"
    assert admin.run(total) == [[1, 12]]  # the dashboard's summaries follow the correction


def test_deletion_version_copies_the_last_values_and_leaves_the_current_view(
    pipeline: Any, processed: Any, runs: Any, make: Any, loader_con: Any
) -> None:
    admin = pipeline.warehouse.admin
    runs.commit(
        1,
        {
            **make.base_dimensions(),
            "fact_sales_order": [
                make.sales_order(1),
                make.sales_order(1, updated=T1, units_sold=7),
                make.sales_order(2),
            ],
            "fact_payment": [make.payment(1)],
        },
    )
    gone = {"observed_at": OBSERVED, "ids": [1, 99]}  # 99: never stored, nothing to copy
    runs.commit(2, deletions={"fact_sales_order": gone, "fact_payment": {"observed_at": OBSERVED, "ids": [1]}})
    result = run_load(processed, loader_con)
    assert result.runs[1].deletion_versions == {"fact_sales_order": 1, "fact_payment": 1}
    last = _versions(admin, 1)[-1]
    assert last == [7, dt.date(2024, 6, 1), dt.time(12, 0, 0, 250000), True, True]
    assert admin.run("SELECT sales_order_id FROM pipeline.fact_sales_order_current") == [[2]]
    assert admin.run("SELECT count(*) FROM pipeline.fact_payment_current") == [[0]]
    ledger = admin.run("SELECT rows_per_table FROM pipeline.load_ledger WHERE run_seq = 2")[0][0]
    assert ledger["fact_sales_order"]["deletion_versions"] == 1
    # The analytics summaries count a deleted order for nothing.
    fold_pending(loader_con)
    total = "SELECT orders FROM analytics.sales_summary WHERE breakdown = 'total' AND period = '-infinity'"
    assert admin.run(total) == [[1]]

    # A repeated finding (a second comparison, or the ledger bypassed) writes nothing more.
    runs.commit(3, deletions={"fact_sales_order": gone})
    assert run_load(processed, loader_con).runs[0].deletion_versions == {"fact_sales_order": 0}
    admin.run("DELETE FROM pipeline.load_ledger WHERE run_seq = 3")
    run_load(processed, loader_con)
    assert len(_versions(admin, 1)) == 3

    # Re-inserted with the same id later: a newer ordinary version is current again.
    runs.commit(4, {"fact_sales_order": [make.sales_order(1, updated=dt.datetime(2024, 7, 1), units_sold=3)]})
    run_load(processed, loader_con)
    assert admin.run("SELECT units_sold FROM pipeline.fact_sales_order_current WHERE sales_order_id = 1") == [[3]]


def test_migrations_005_to_009_keep_existing_versions_as_not_deleted(stack: Any, tmp_path: Path) -> None:
    before = tmp_path / "before"
    before.mkdir()
    for path in sorted(migrations_dir().glob("00[1-4]_*.sql")):
        shutil.copy(path, before / path.name)
    with stack.warehouse_database(template="template0") as db:
        con = db.admin
        migrate(con, before)
        con.run("INSERT INTO dim_date SELECT DATE '2024-01-01', 2024, 1, 1, 1, 'Monday', 'January', 1")
        con.run("INSERT INTO dim_staff VALUES (1, 'a', 'b', 'c', 'd', 'e')")
        con.run("INSERT INTO dim_counterparty VALUES (1, 'n', 'a', NULL, NULL, 'c', 'p', 'k', 'ph')")
        con.run("INSERT INTO dim_currency VALUES (1, 'GBP', 'Pound')")
        con.run("INSERT INTO dim_design VALUES (1, 'd', 'l', 'f')")
        con.run("INSERT INTO dim_location VALUES (1, 'a', NULL, NULL, 'c', 'p', 'k', 'ph')")
        day = "DATE '2024-01-01'"
        row = f"1, {day}, '09:00', {day}, '09:00', 1, 1, 5, 2.50, 1, 1, {day}, {day}, 1"
        con.run(
            "INSERT INTO fact_sales_order (sales_order_id, created_date, created_time, last_updated_date,"
            " last_updated_time, sales_staff_id, counterparty_id, units_sold, unit_price, currency_id, design_id,"
            f" agreed_payment_date, agreed_delivery_date, agreed_delivery_location_id) VALUES ({row})"
        )
        applied = migrate(con)
        assert applied[0] == "005_deletions_and_corrections"
        assert "009_version_key_without_hash" in applied
        assert con.run("SELECT is_deleted FROM fact_sales_order") == [[False]]
        assert con.run("SELECT count(*) FROM pipeline.fact_sales_order_current") == [[1]]
        assert con.run("SELECT is_current FROM pipeline.fact_sales_order_history") == [[True]]
