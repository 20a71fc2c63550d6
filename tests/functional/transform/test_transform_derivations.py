"""Each SPEC §2 derivation, end to end through run_transform on moto, against hand-computed rows."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from transform.run import run_transform

D, T = dt.date, dt.time


def test_first_run_emits_every_table_exactly(lake) -> None:
    r = lake.row
    rows = lake.base_rows()
    rows["address"] = [r("address", 1), r("address", 2, address_line_2="Flat 2", district=None)]
    rows["department"] = [r("department", 1, location=None)]
    rows["currency"] = [r("currency", 1), r("currency", 2, currency_code="USD")]
    rows["payment_type"] = [r("payment_type", 1, payment_type_name="PURCHASE_REFUND")]
    rows["transaction"] = [r("transaction", 1, transaction_type="PURCHASE", sales_order_id=None, purchase_order_id=1)]
    rows["sales_order"] = [
        r(
            "sales_order",
            5,
            created_at="2024-01-02T03:04:05.123",
            last_updated="2024-01-03T23:59:59.999",
            unit_price="1234.5",
            agreed_delivery_date="2024-01-06",
            agreed_payment_date="2024-01-07",
            agreed_delivery_location_id=2,
        ),
    ]
    rows["purchase_order"] = [r("purchase_order", 3, item_unit_price="0.01")]
    rows["payment"] = [r("payment", 9, payment_amount="-5.00", paid=False)]
    lake.commit_ingest(1, rows)

    result = run_transform(lake.ingest, lake.processed)

    assert result.runs_committed == [1]
    assert lake.rows(1, "dim_staff") == [
        {
            "staff_id": 1,
            "first_name": "Jo",
            "last_name": "Smith1",
            "department_name": "Dept 1",
            "location": "Unknown",
            "email_address": "s1@t.com",
        }
    ]
    assert lake.rows(1, "dim_location") == [
        {
            "location_id": 1,
            "address_line_1": "1 High St",
            "address_line_2": None,
            "district": "Central",
            "city": "Leeds",
            "postal_code": "LS1 1AA",
            "country": "UK",
            "phone": "0113 000",
        },
        {
            "location_id": 2,
            "address_line_1": "2 High St",
            "address_line_2": "Flat 2",
            "district": None,
            "city": "Leeds",
            "postal_code": "LS1 1AA",
            "country": "UK",
            "phone": "0113 000",
        },
    ]
    assert lake.rows(1, "dim_counterparty") == [
        {
            "counterparty_id": 1,
            "counterparty_legal_name": "Buyer 1",
            "counterparty_legal_address_line_1": "1 High St",
            "counterparty_legal_address_line_2": None,
            "counterparty_legal_district": "Central",
            "counterparty_legal_city": "Leeds",
            "counterparty_legal_postal_code": "LS1 1AA",
            "counterparty_legal_country": "UK",
            "counterparty_legal_phone_number": "0113 000",
        }
    ]
    assert lake.rows(1, "dim_currency") == [
        {"currency_id": 1, "currency_code": "GBP", "currency_name": "Pound Sterling"},
        {"currency_id": 2, "currency_code": "USD", "currency_name": "US Dollar"},
    ]
    assert lake.rows(1, "dim_design") == [
        {"design_id": 1, "design_name": "Design 1", "file_location": "/d", "file_name": "d1.json"}
    ]
    assert lake.rows(1, "dim_payment_type") == [{"payment_type_id": 1, "payment_type_name": "PURCHASE_REFUND"}]
    assert lake.rows(1, "dim_transaction") == [
        {"transaction_id": 1, "transaction_type": "PURCHASE", "sales_order_id": None, "purchase_order_id": 1}
    ]
    assert lake.rows(1, "fact_sales_order") == [
        {
            "sales_order_id": 5,
            "created_date": D(2024, 1, 2),
            "created_time": T(3, 4, 5, 123000),
            "last_updated_date": D(2024, 1, 3),
            "last_updated_time": T(23, 59, 59, 999000),
            "sales_staff_id": 1,
            "counterparty_id": 1,
            "units_sold": 10,
            "unit_price": Decimal("1234.50"),
            "currency_id": 1,
            "design_id": 1,
            "agreed_payment_date": D(2024, 1, 7),
            "agreed_delivery_date": D(2024, 1, 6),
            "agreed_delivery_location_id": 2,
        }
    ]
    assert lake.rows(1, "fact_purchase_order") == [
        {
            "purchase_order_id": 3,
            "created_date": D(2024, 1, 2),
            "created_time": T(3, 4, 5, 123000),
            "last_updated_date": D(2024, 1, 2),
            "last_updated_time": T(3, 4, 5, 123000),
            "staff_id": 1,
            "counterparty_id": 1,
            "item_code": "ABC123",
            "item_quantity": 7,
            "item_unit_price": Decimal("0.01"),
            "currency_id": 1,
            "agreed_delivery_date": D(2024, 2, 1),
            "agreed_payment_date": D(2024, 2, 2),
            "agreed_delivery_location_id": 1,
        }
    ]
    assert lake.rows(1, "fact_payment") == [
        {
            "payment_id": 9,
            "created_date": D(2024, 1, 2),
            "created_time": T(3, 4, 5, 123000),
            "last_updated_date": D(2024, 1, 2),
            "last_updated_time": T(3, 4, 5, 123000),
            "transaction_id": 1,
            "counterparty_id": 1,
            "payment_amount": Decimal("-5.00"),
            "currency_id": 1,
            "payment_type_id": 1,
            "paid": False,
            "payment_date": D(2024, 3, 1),
        }
    ]
    # Every date a fact references, and nothing else: 2024-01-02 Tue .. 2024-03-01 Fri.
    assert lake.rows(1, "dim_date") == [
        {
            "date_id": D(2024, 1, 2),
            "year": 2024,
            "month": 1,
            "day": 2,
            "day_of_week": 2,
            "day_name": "Tuesday",
            "month_name": "January",
            "quarter": 1,
        },
        {
            "date_id": D(2024, 1, 3),
            "year": 2024,
            "month": 1,
            "day": 3,
            "day_of_week": 3,
            "day_name": "Wednesday",
            "month_name": "January",
            "quarter": 1,
        },
        {
            "date_id": D(2024, 1, 6),
            "year": 2024,
            "month": 1,
            "day": 6,
            "day_of_week": 6,
            "day_name": "Saturday",
            "month_name": "January",
            "quarter": 1,
        },
        {
            "date_id": D(2024, 1, 7),
            "year": 2024,
            "month": 1,
            "day": 7,
            "day_of_week": 7,
            "day_name": "Sunday",
            "month_name": "January",
            "quarter": 1,
        },
        {
            "date_id": D(2024, 2, 1),
            "year": 2024,
            "month": 2,
            "day": 1,
            "day_of_week": 4,
            "day_name": "Thursday",
            "month_name": "February",
            "quarter": 1,
        },
        {
            "date_id": D(2024, 2, 2),
            "year": 2024,
            "month": 2,
            "day": 2,
            "day_of_week": 5,
            "day_name": "Friday",
            "month_name": "February",
            "quarter": 1,
        },
        {
            "date_id": D(2024, 3, 1),
            "year": 2024,
            "month": 3,
            "day": 1,
            "day_of_week": 5,
            "day_name": "Friday",
            "month_name": "March",
            "quarter": 1,
        },
    ]
    record = lake.commit_record(1)
    assert record["ingest_manifest"] == "runs/0000000001.json"
    assert record["rows_quarantined"] == 0
    assert record["quarantine"] == {}
    assert all(record["snapshots"][t] for t in ("address", "staff", "transaction"))
