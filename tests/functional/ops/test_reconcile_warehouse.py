"""``reconcile`` against a hand-written source and warehouse: agrees, then catches corruption."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from ops.reconcile import TableCounts, reconcile


def _run(world, **kwargs):
    source_db, warehouse_db = world
    src, wh = source_db.connect(), warehouse_db.connect()
    try:
        return reconcile(src, wh, **kwargs)
    finally:
        src.close()
        wh.close()


def test_matching_warehouse_passes(tiny_world) -> None:
    report = _run(tiny_world)
    assert report.differences == []
    assert report.ok
    assert report.checked["fact_sales_order"] == 2
    assert report.checked["dim_staff"] == 2
    assert report.checked["dim_date"] == 91


def test_corrupted_dimension_and_fact_values_are_named(tiny_world) -> None:
    _, warehouse_db = tiny_world
    warehouse_db.admin.run("UPDATE dim_staff SET last_name = 'Frany' WHERE staff_id = 1")
    warehouse_db.admin.run(
        "UPDATE fact_sales_order SET unit_price = 2.51 WHERE sales_order_id = 1 AND last_updated_date = '2024-01-06'"
    )
    report = _run(tiny_world)
    assert not report.ok
    found = {(d.table, d.key, d.column): (d.expected, d.actual) for d in report.differences}
    assert found == {
        ("dim_staff", "staff_id=1", "last_name"): ("Franey", "Frany"),
        ("fact_sales_order", "sales_order_id=1", "unit_price"): (Decimal("2.50"), Decimal("2.51")),
    }
    assert "dim_staff [staff_id=1] last_name: expected 'Franey', actual 'Frany'" in [
        d.describe() for d in report.differences
    ]


def test_an_older_version_does_not_count_as_the_current_one(tiny_world) -> None:
    # Delete the latest version: the remaining (older) one no longer equals the source.
    _, warehouse_db = tiny_world
    warehouse_db.admin.run("DELETE FROM fact_sales_order WHERE sales_order_id = 1 AND units_sold = 100")
    found = {(d.key, d.column): (d.expected, d.actual) for d in _run(tiny_world).differences}
    assert found[("sales_order_id=1", "units_sold")] == (100, 90)
    assert found[("sales_order_id=1", "last_updated_date")] == (dt.date(2024, 1, 6), dt.date(2024, 1, 5))


def test_deleted_fact_and_missing_dimension_member_are_reported(tiny_world) -> None:
    _, warehouse_db = tiny_world
    warehouse_db.admin.run("DELETE FROM fact_payment WHERE payment_id = 1")
    warehouse_db.admin.run("DELETE FROM dim_transaction WHERE transaction_id = 2")
    found = {(d.table, d.key, d.column, d.actual) for d in _run(tiny_world).differences}
    assert found == {
        ("fact_payment", "payment_id=1", "<row>", "missing"),
        ("dim_transaction", "transaction_id=2", "<row>", "missing"),
    }


def test_a_fact_version_stored_twice_is_reported(tiny_world) -> None:
    _, warehouse_db = tiny_world
    warehouse_db.admin.run("ALTER TABLE fact_sales_order DROP CONSTRAINT fact_sales_order_version_uq")
    warehouse_db.admin.run(
        "INSERT INTO fact_sales_order (sales_order_id, created_date, created_time, last_updated_date,"
        " last_updated_time, sales_staff_id, counterparty_id, units_sold, unit_price, currency_id, design_id,"
        " agreed_payment_date, agreed_delivery_date, agreed_delivery_location_id)"
        " SELECT sales_order_id, created_date, created_time, last_updated_date, last_updated_time, sales_staff_id,"
        " counterparty_id, units_sold, unit_price, currency_id, design_id, agreed_payment_date, agreed_delivery_date,"
        " agreed_delivery_location_id FROM fact_sales_order WHERE sales_order_id = 2"
    )
    diffs = _run(tiny_world).differences
    assert [(d.table, d.column, d.actual) for d in diffs] == [("fact_sales_order", "<version>", "stored 2 times")]


def test_null_location_placeholder_and_date_attributes_are_checked(tiny_world) -> None:
    _, warehouse_db = tiny_world
    warehouse_db.admin.run("UPDATE dim_staff SET location = '' WHERE staff_id = 2")
    warehouse_db.admin.run("UPDATE dim_date SET day_name = 'Funday' WHERE date_id = '2024-01-01'")
    warehouse_db.admin.run("UPDATE dim_currency SET currency_name = 'Quid' WHERE currency_id = 1")
    found = {(d.table, d.column): d.expected for d in _run(tiny_world).differences}
    assert found == {
        ("dim_staff", "location"): "Unknown",
        ("dim_date", "day_name"): "Monday",
        ("dim_currency", "currency_name"): "Pound Sterling",
    }


def test_unparseable_source_date_is_skipped_as_bad_input_and_counted(tiny_world) -> None:
    source_db, _ = tiny_world
    source_db.admin.run("UPDATE sales_order SET agreed_payment_date = 'soon' WHERE sales_order_id = 2")
    report = _run(tiny_world, max_skipped_share=0.5)
    assert report.ok
    assert len(report.skipped_bad_input) == 1
    assert "sales_order_id=2" in report.skipped_bad_input[0]
    assert report.counts["fact_sales_order"] == TableCounts(source_rows=2, checked=1, skipped=1)


def test_a_mostly_skipped_table_fails_the_verdict(tiny_world) -> None:
    """Skipping is never a way to pass: half of sales_order skipped is far above the default 1 %."""
    source_db, _ = tiny_world
    source_db.admin.run("UPDATE sales_order SET agreed_payment_date = 'soon' WHERE sales_order_id = 2")
    report = _run(tiny_world)
    assert not report.ok
    assert report.differences == []
    assert list(report.mostly_skipped) == ["fact_sales_order"]
    assert "fact_sales_order: 1 of 2 source rows skipped as bad input (50.0% > 1.0%)" in report.summary()


def test_a_retyped_source_column_fails_the_verdict_and_is_named(tiny_world) -> None:
    """The pipeline still loads a date column correctly (ingestion reads it as text), so nothing
    is skipped or different; the contract is broken all the same, and reconcile says where."""
    source_db, _ = tiny_world
    source_db.admin.run(
        "ALTER TABLE sales_order ALTER COLUMN agreed_payment_date TYPE date USING agreed_payment_date::date"
    )
    report = _run(tiny_world)
    assert report.differences == []
    assert report.skipped_bad_input == []
    assert report.counts["fact_sales_order"].checked == 2
    assert report.type_mismatches == [
        "source column sales_order.agreed_payment_date is date; the contract (SPEC §1) says text"
    ]
    assert not report.ok
    assert "sales_order.agreed_payment_date" in report.summary()


def test_bad_input_is_what_transform_quarantines(tiny_world) -> None:
    """One definition of bad input (common.value_domain): a year-0 date, a padded date and a
    date with a time are skipped; money beyond numeric(10,2) in a widened column is skipped
    too (and the widening is named), not reported as a value difference."""
    source_db, _ = tiny_world
    admin = source_db.admin
    admin.run("ALTER TABLE sales_order ALTER COLUMN unit_price TYPE numeric(12,3)")
    admin.run("UPDATE sales_order SET agreed_delivery_date = '0000-01-01' WHERE sales_order_id = 1")
    admin.run("UPDATE sales_order SET unit_price = 2.505 WHERE sales_order_id = 2")
    admin.run("UPDATE purchase_order SET agreed_payment_date = ' 2024-01-05 '")
    admin.run("UPDATE payment SET payment_date = '2024-01-05T10:00:00' WHERE payment_id = 1")
    report = _run(tiny_world, max_skipped_share=1.0)
    assert report.differences == []
    skipped = {s.split(":")[0]: s.split(": ", 1)[1] for s in report.skipped_bad_input}
    assert skipped == {
        "sales_order sales_order_id=1": "unparseable date (outside the warehouse's years 1-9999): agreed_delivery_date",
        "sales_order sales_order_id=2": "not a numeric(10,2): unit_price",
        "purchase_order purchase_order_id=1": "unparseable date: agreed_payment_date",
        "payment payment_id=1": "unparseable date: payment_date",
    }
    assert report.type_mismatches == [
        "source column sales_order.unit_price is numeric(12,3); the contract (SPEC §1) says numeric(10,2)"
    ]


def test_currency_code_iso_does_not_know_is_bad_input(tiny_world) -> None:
    source_db, _warehouse_db = tiny_world
    source_db.admin.run("INSERT INTO currency (currency_id, currency_code, last_updated) VALUES (3, 'XQQ', now())")
    report = _run(tiny_world, max_skipped_share=0.5)
    assert report.ok
    assert report.skipped_bad_input == ["dim_currency currency_id=3: not an ISO 4217 currency code: 'XQQ'"]


# Orders 3..5002 in both databases (the warehouse's rows written by hand in SQL, not derived by
# pipeline code), so the keys span five hash ranges of 1,024 and most of them match.
MANY_SOURCE_SQL = """
INSERT INTO sales_order (sales_order_id, design_id, staff_id, counterparty_id, units_sold, unit_price, currency_id,
                         agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id,
                         created_at, last_updated)
SELECT i, 1, 1 + i % 2, 1, i % 97 + 1, (i % 500) / 4.0, 1 + i % 2, '2024-02-01', '2024-02-10', 1 + i % 2,
       '2024-01-05 10:00:00'::timestamp + i * interval '1 second',
       '2024-01-06 10:00:00'::timestamp + i * interval '1 ms'
FROM generate_series(3, 5002) AS i;
"""
MANY_WAREHOUSE_SQL = """
INSERT INTO fact_sales_order (sales_order_id, created_date, created_time, last_updated_date, last_updated_time,
    sales_staff_id, counterparty_id, units_sold, unit_price, currency_id, design_id, agreed_payment_date,
    agreed_delivery_date, agreed_delivery_location_id)
SELECT i, t.c::date, t.c::time, t.u::date, t.u::time, 1 + i % 2, 1, i % 97 + 1, (i % 500) / 4.0, 1 + i % 2, 1,
       '2024-02-10', '2024-02-01', 1 + i % 2
FROM generate_series(3, 5002) AS i,
     LATERAL (SELECT '2024-01-05 10:00:00'::timestamp + i * interval '1 second' AS c,
                     '2024-01-06 10:00:00'::timestamp + i * interval '1 ms' AS u) AS t;
"""


def test_one_corrupt_one_missing_and_one_extra_row_among_thousands_are_each_named(tiny_world) -> None:
    source_db, warehouse_db = tiny_world
    source_db.admin.run(MANY_SOURCE_SQL)
    warehouse_db.admin.run(MANY_WAREHOUSE_SQL)
    assert _run(tiny_world).ok, "the hand-written copies agree before the corruption"

    warehouse_db.admin.run("UPDATE fact_sales_order SET units_sold = units_sold + 1 WHERE sales_order_id = 4000")
    warehouse_db.admin.run("DELETE FROM fact_sales_order WHERE sales_order_id = 2500")
    warehouse_db.admin.run(
        "INSERT INTO fact_sales_order (sales_order_id, created_date, created_time, last_updated_date,"
        " last_updated_time, sales_staff_id, counterparty_id, units_sold, unit_price, currency_id, design_id,"
        " agreed_payment_date, agreed_delivery_date, agreed_delivery_location_id)"
        " VALUES (9000, '2024-01-05', '10:00:00', '2024-01-06', '10:00:00', 1, 1, 1, 1.00, 1, 1,"
        " '2024-02-10', '2024-02-01', 1)"
    )
    report = _run(tiny_world)
    found = {(d.key, d.column): (d.expected, d.actual) for d in report.differences}
    assert found == {
        ("sales_order_id=4000", "units_sold"): (4000 % 97 + 1, 4000 % 97 + 2),
        ("sales_order_id=2500", "<row>"): ("present", "missing"),
        ("sales_order_id=9000", "<row>"): ("absent (not in source)", "present"),
    }
    assert report.counts["fact_sales_order"] == TableCounts(source_rows=5002, checked=5002, skipped=0)
    assert "3 differences in fact_sales_order" in report.summary()
