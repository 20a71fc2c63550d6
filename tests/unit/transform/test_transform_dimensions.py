"""Each dimension rule on tiny hand-written tables (typed source schema)."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from common.source_tables import SOURCE_TABLES
from transform import dimensions as dims
from transform.schemas import WAREHOUSE_SCHEMAS, source_schema

TS = dt.datetime(2024, 1, 2, 3, 4, 5, 123000)


def _t(table: str, *rows: dict) -> pa.Table:
    full = [{"created_at": TS, "last_updated": TS, **r} for r in rows]
    return pa.Table.from_pylist(full, schema=source_schema(SOURCE_TABLES[table]))


def test_dim_staff_joins_department_and_fills_unknown_location() -> None:
    staff = _t(
        "staff",
        {"staff_id": 1, "first_name": "A", "last_name": "B", "department_id": 2, "email_address": "a@x"},
        {"staff_id": 2, "first_name": "C", "last_name": "D", "department_id": 3, "email_address": "c@x"},
        {"staff_id": 3, "first_name": "E", "last_name": "F", "department_id": 9, "email_address": "e@x"},
    )
    department = _t(
        "department",
        {"department_id": 2, "department_name": "Sales", "location": "Leeds", "manager": None},
        {"department_id": 3, "department_name": "Ops", "location": None, "manager": "M"},
    )

    dim, unmatched = dims.build_dim_staff(staff, department)

    assert dim.schema == WAREHOUSE_SCHEMAS["dim_staff"]
    assert dim.to_pylist() == [
        {"staff_id": 1, "first_name": "A", "last_name": "B", "department_name": "Sales", "location": "Leeds",
         "email_address": "a@x"},
        {"staff_id": 2, "first_name": "C", "last_name": "D", "department_name": "Ops", "location": "Unknown",
         "email_address": "c@x"},
    ]  # fmt: skip
    assert unmatched.to_pylist() == [3]


def test_dim_counterparty_joins_legal_address_and_drops_contacts() -> None:
    cp = _t(
        "counterparty",
        {"counterparty_id": 5, "counterparty_legal_name": "Acme", "legal_address_id": 7,
         "commercial_contact": "X", "delivery_contact": "Y"},
        {"counterparty_id": 6, "counterparty_legal_name": "Lost", "legal_address_id": 8,
         "commercial_contact": None, "delivery_contact": None},
    )  # fmt: skip
    address = _t(
        "address",
        {"address_id": 7, "address_line_1": "1 St", "address_line_2": None, "district": "D", "city": "C",
         "postal_code": "P", "country": "UK", "phone": "01"},
    )  # fmt: skip

    dim, unmatched = dims.build_dim_counterparty(cp, address)

    assert dim.to_pylist() == [
        {"counterparty_id": 5, "counterparty_legal_name": "Acme", "counterparty_legal_address_line_1": "1 St",
         "counterparty_legal_address_line_2": None, "counterparty_legal_district": "D",
         "counterparty_legal_city": "C", "counterparty_legal_postal_code": "P", "counterparty_legal_country": "UK",
         "counterparty_legal_phone_number": "01"}
    ]  # fmt: skip
    assert unmatched.to_pylist() == [6]


def test_dim_currency_names_from_iso_4217_and_rejects_unknown_codes() -> None:
    currency = _t("currency", {"currency_id": 1, "currency_code": "GBP"}, {"currency_id": 2, "currency_code": "EUR"},
                  {"currency_id": 3, "currency_code": "ABC"})  # fmt: skip

    dim, unknown = dims.build_dim_currency(currency)

    assert dim.to_pylist() == [
        {"currency_id": 1, "currency_code": "GBP", "currency_name": "Pound Sterling"},
        {"currency_id": 2, "currency_code": "EUR", "currency_name": "Euro"},
    ]
    assert unknown.to_pylist() == [3]


def test_dim_location_design_payment_type_transaction_copy_columns() -> None:
    address = _t("address", {"address_id": 4, "address_line_1": "a", "address_line_2": "b", "district": None,
                             "city": "c", "postal_code": "p", "country": "k", "phone": "t"})  # fmt: skip
    assert dims.build_dim_location(address).to_pylist() == [
        {"location_id": 4, "address_line_1": "a", "address_line_2": "b", "district": None, "city": "c",
         "postal_code": "p", "country": "k", "phone": "t"}
    ]  # fmt: skip
    design = _t("design", {"design_id": 2, "design_name": "n", "file_location": "/l", "file_name": "f"})
    assert dims.build_dim_design(design).to_pylist() == [
        {"design_id": 2, "design_name": "n", "file_location": "/l", "file_name": "f"}
    ]
    pt = _t("payment_type", {"payment_type_id": 3, "payment_type_name": "SALES_REFUND"})
    assert dims.build_dim_payment_type(pt).to_pylist() == [{"payment_type_id": 3, "payment_type_name": "SALES_REFUND"}]
    tx = _t("transaction", {"transaction_id": 8, "transaction_type": "SALE", "sales_order_id": 4,
                            "purchase_order_id": None})  # fmt: skip
    assert dims.build_dim_transaction(tx).to_pylist() == [
        {"transaction_id": 8, "transaction_type": "SALE", "sales_order_id": 4, "purchase_order_id": None}
    ]


def test_affected_selects_changed_rows_and_children_of_changed_parents() -> None:
    staff = _t(
        "staff",
        *({"staff_id": i, "first_name": "A", "last_name": "B", "department_id": d, "email_address": "e"}
          for i, d in ((1, 1), (2, 2), (3, 2), (4, 3))),
    )  # fmt: skip
    out = dims.affected(staff, pa.array([1], pa.int32()), "staff_id", "department_id", pa.array([2], pa.int32()))
    assert out.column("staff_id").to_pylist() == [1, 2, 3]


def test_conform_refuses_nulls_in_not_null_columns() -> None:
    with pytest.raises(dims.DimensionSchemaError, match="design_name"):
        dims.conform(
            {"design_id": pa.array([1], pa.int32()), "design_name": pa.array([None], pa.string()),
             "file_location": pa.array(["l"]), "file_name": pa.array(["f"])},
            "dim_design",
        )  # fmt: skip
