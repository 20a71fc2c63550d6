"""Money stays per currency; filters become bound SQL conditions."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from dashboard.filters import Conditions, Filters, member_conditions, month_conditions, running_range
from dashboard.money import Converted, Money, MonthlyRates, money_by_currency


def test_money_adds_per_currency_never_across() -> None:
    total = money_by_currency([("GBP", "1.10"), ("EUR", "2.00"), ("GBP", Decimal("0.20"))])
    assert total.amounts == {"GBP": Decimal("1.30"), "EUR": Decimal("2.00")}
    assert str(total) == "EUR 2.00, GBP 1.30"
    assert Money.total([total, Money({"USD": Decimal("5")})]).currencies == ["EUR", "GBP", "USD"]
    assert str(Money()) == "none"


def test_conversion_rounds_each_cell_and_keeps_what_has_no_rate() -> None:
    jan, feb = date(2024, 1, 1), date(2024, 2, 1)
    rates = MonthlyRates("GBP", {(jan, "EUR"): Decimal("0.855"), (feb, "USD"): Decimal("0.8")})
    money = money_by_currency([("GBP", "1.00"), ("EUR", "2.01")])
    assert rates.convert(jan, money) == Converted("GBP", Decimal("2.72"))  # 1.00 + 1.71855 -> 1.72
    assert rates.convert(feb, money) == Converted("GBP", Decimal("1.00"), Money({"EUR": Decimal("2.01")}))
    assert rates.convert(feb, money).shown is None  # never a part shown as the whole
    assert rates.label == "converted to GBP at each month's average rate"
    assert rates.missing_note([(feb, money), (jan, money)]) == "missing, not converted (no rate): EUR in Feb 2024"
    assert rates.missing_note([(jan, money)]) == ""


def test_filters_are_whole_months_in_order() -> None:
    f = Filters(start=date(2024, 1, 15), end=date(2024, 3, 31))
    assert (f.start, f.end) == (date(2024, 1, 1), date(2024, 3, 1))
    with pytest.raises(ValueError, match="starts"):
        Filters(start=date(2024, 3, 1), end=date(2024, 1, 1))
    assert not Filters(currencies=(1,)).needs_facts
    assert not Filters(start=date(2024, 1, 1)).needs_facts  # a date range: running totals per month
    assert Filters(start=date(2024, 1, 1)).has_range
    assert Filters(departments=("Sales",)).needs_facts


def test_a_range_reads_running_totals_at_its_last_month_and_the_day_before_it() -> None:
    c = Conditions()
    sql = running_range(Filters(start=date(2024, 2, 1), end=date(2024, 6, 1)), "running_units", c, prefix="y_")
    assert sql == (
        "(analytics.running_at(running_months, running_units, CAST(:y_range_end AS date))"
        " - analytics.running_at(running_months, running_units, CAST(:y_before_range AS date)))"
    )
    assert c.params == {"y_before_range": date(2024, 1, 31), "y_range_end": date(2024, 6, 1)}
    open_ended = Conditions()
    running_range(Filters(end=date(2024, 6, 1)), "r", open_ended)
    assert open_ended.params["before_range"] is None  # from the first month there is: nothing to subtract
    to_the_last = Conditions()
    running_range(Filters(start=date(2024, 6, 1)), "r", to_the_last)
    assert to_the_last.params["range_end"] == date.max


def test_conditions_bind_values_and_skip_columns_a_fact_lacks() -> None:
    f = Filters(start=date(2024, 1, 1), currencies=(1, 2), designs=(7,), departments=("Sales'; DROP",))
    c = member_conditions(f, {"currency": "f.currency_id", "staff": "f.staff_id"}, prefix="y_")
    month_conditions(f, "m", c, prefix="y_")
    assert "DROP" not in c.sql  # values are parameters, never text
    assert c.params == {"y_currencies": [1, 2], "y_departments": ["Sales'; DROP"], "y_start": date(2024, 1, 1)}
    assert "design" not in c.sql  # this fact has no design column: the page does not offer it
