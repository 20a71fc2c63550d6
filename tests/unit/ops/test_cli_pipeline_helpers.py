"""Small pure helpers of the pipeline commands and the reconciliation's derivations."""

from __future__ import annotations

import datetime as dt

import pytest

from cli.pipeline_cmds import _interval_seconds
from ops.reconcile import FACTS, BadSourceValueError, currency_name, date_attributes, derive_fact_row, parse_text_date
from ops.report import pivot


def test_schedule_interval_from_the_terraform_expression() -> None:
    assert _interval_seconds("rate(15 minutes)") == 900
    assert _interval_seconds("rate(1 hour)") == 3600
    assert _interval_seconds(None) == 900


def test_fact_row_derivation_splits_timestamps_and_parses_text_dates() -> None:
    spec = next(f for f in FACTS if f.table == "fact_payment")
    row = {
        "payment_id": 5,
        "created_at": dt.datetime(2024, 1, 2, 3, 4, 5, 678000),
        "last_updated": dt.datetime(2024, 2, 3, 4, 5, 6),
        "transaction_id": 1,
        "counterparty_id": 2,
        "payment_amount": "1.00",
        "currency_id": 1,
        "payment_type_id": 3,
        "paid": False,
        "payment_date": "2024-03-01",
    }
    out = derive_fact_row(spec, row)
    assert out["created_date"] == dt.date(2024, 1, 2)
    assert out["created_time"] == dt.time(3, 4, 5, 678000)
    assert out["payment_date"] == dt.date(2024, 3, 1)
    with pytest.raises(BadSourceValueError):
        derive_fact_row(spec, {**row, "payment_date": "2024-02-30"})
    with pytest.raises(BadSourceValueError):
        parse_text_date(None)


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
