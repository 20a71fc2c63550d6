"""Small pure helpers of the pipeline commands and the reconciliation's derivations."""

from __future__ import annotations

import datetime as dt

import pytest

from cli.pipeline_cmds import _interval_seconds
from common.warehouse_tables import TABLES
from ops.reconcile import (
    DIMENSIONS,
    FACTS,
    BadSourceValueError,
    currency_name,
    date_attributes,
    derive_row,
    parse_text_date,
)
from ops.report import pivot


def test_schedule_interval_from_the_terraform_expression() -> None:
    assert _interval_seconds("rate(15 minutes)") == 900
    assert _interval_seconds("rate(1 hour)") == 3600
    assert _interval_seconds(None) == 900


def test_fact_row_derivation_parses_text_dates_and_names_its_columns() -> None:
    """The SQL splits timestamps (its expressions are what the hashes use); Python parses the text dates."""
    check = next(f for f in FACTS if f.table == "fact_payment")
    assert [c.sql for c in check.columns[1:3]] == ["s.created_at::date", "s.created_at::time"]
    values = [5, dt.date(2024, 1, 2), dt.time(3, 4, 5, 678000), dt.date(2024, 2, 3), dt.time(4, 5, 6),
              1, 2, "1.00", 1, 3, False, "2024-03-01"]  # fmt: skip
    out = derive_row(check, values)
    assert out["created_time"] == dt.time(3, 4, 5, 678000)
    assert out["payment_date"] == dt.date(2024, 3, 1)
    with pytest.raises(BadSourceValueError):
        derive_row(check, [*values[:-1], "2024-02-30"])
    with pytest.raises(BadSourceValueError):
        parse_text_date(None)


def test_every_derivation_covers_its_warehouse_table() -> None:
    """A reconcile check derives every column the warehouse table holds (facts: but the surrogate key)."""
    for check in (*DIMENSIONS, *FACTS):
        assert set(check.column_names) == set(TABLES[check.table].column_names), check.table


def test_date_attributes_and_currency_names() -> None:
    assert date_attributes(dt.date(2024, 12, 29)) == {
        "date_id": dt.date(2024, 12, 29),
        "year": 2024,
        "month": 12,
        "day": 29,
        "day_of_week": 7,
        "day_name": "Sunday",
        "month_name": "December",
        "quarter": 4,
    }
    assert currency_name("USD") == "US Dollar"
    assert currency_name("usd") is None
    assert currency_name("ZZZ") is None


def test_pivot_groups_series_per_label() -> None:
    labels, series = pivot([("2024-01", "GBP", 1), ("2024-01", "EUR", 2), ("2024-02", "GBP", 3)])
    assert labels == ["2024-01", "2024-02"]
    assert series == {"GBP": [1.0, 3.0], "EUR": [2.0, 0.0]}
