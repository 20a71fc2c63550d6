"""Converting a page into one reporting currency (``dashboard.money``), on real PostgreSQL
through the read-only role, against figures worked out by hand from ``conftest``'s rows and
the rates below (``public.fx_rate``: units of the currency per GBP, as the load stores them).

Sales per month and currency (current versions): Jan GBP 225.00, EUR 21.00;
Feb GBP 1.00, EUR 1000.00. Purchases: Jan EUR 50.00. Payments: Feb GBP 250.00 (paid),
EUR 50.00 (paid); Mar GBP 7.00 (unpaid).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from dashboard.filters import Filters
from dashboard.money import Converted, Money, monthly_rates
from dashboard.purchases import purchases_page
from dashboard.sales import sales_page

D = Decimal
JAN, FEB, MAR = date(2024, 1, 1), date(2024, 2, 1), date(2024, 3, 1)
MONTHS = (JAN, MAR)  # the pages' months (rates are read for the span)

# January: EUR 1.25 and 1.00 per GBP on two days -> EUR->GBP 0.8 and 1.0, average 0.9;
# GBP->EUR 1.25 and 1.00, average 1.125. GBP (the base) has no row: it is 1 on every rate date.
# February has no EUR rate; FEB_RATE gives it one (EUR 1.60 per GBP: EUR->GBP 0.625).
JAN_RATES = "('EUR', '2024-01-10', 1.25), ('EUR', '2024-01-20', 1.00)"
FEB_RATE = "('EUR', '2024-02-05', 1.60)"


def _rates(warehouse, values: str) -> None:
    warehouse.admin.execute_simple(
        "INSERT INTO public.fx_rate (currency_code, rate_date, rate, base_currency, source, run_seq)"
        f" SELECT c, CAST(d AS date), r, 'GBP', 'test', 1 FROM (VALUES {values}) AS v(c, d, r)"
    )


@pytest.fixture
def rated(hand_warehouse):
    _rates(hand_warehouse, f"{JAN_RATES}, {FEB_RATE}")
    return hand_warehouse


def test_each_month_converts_at_its_average_rate_and_the_total_is_the_sum_of_its_parts(rated, reader) -> None:
    con = reader()
    page = sales_page(con, Filters())
    rates = monthly_rates(con, "GBP", MONTHS)
    assert rates.rate == {(JAN, "EUR"): D("0.9"), (FEB, "EUR"): D("0.625")}
    months = [rates.convert(m.month, m.value) for m in page.by_month]
    # Jan: 225.00 + 21.00 x 0.9 = 243.90; Feb: 1.00 + 1000.00 x 0.625 = 626.00
    assert months == [Converted("GBP", D("243.90")), Converted("GBP", D("626.00"))]
    total = rates.total(page.cells)
    assert total == Converted("GBP", D("869.90"))
    assert str(total) == "GBP 869.90"
    # Members over the range: EUR at (18.90 + 625.00) / 1021.00 (the months' rates weighted by
    # the page's EUR per month); Wooden GBP 225.00 + EUR 1000.00, Bronze EUR 21.00 + GBP 1.00.
    over = rates.over(page.cells)
    assert over.rate == {"EUR": D("643.90") / D("1021.00")}
    designs = {d.name: over.convert(d.value) for d in page.designs}
    assert designs == {"Wooden": Converted("GBP", D("855.66")), "Bronze": Converted("GBP", D("14.24"))}
    for chart in (page.designs, page.counterparties, page.staff, page.departments, page.cities, page.countries):
        assert sum(over.convert(m.value).value for m in chart) == total.value  # each chart adds up to the total

    eur = monthly_rates(con, "EUR", MONTHS)  # the other way: GBP->EUR 1.125 in Jan, 1.6 in Feb
    assert eur.rate == {(JAN, "GBP"): D("1.125"), (FEB, "GBP"): D("1.6")}
    # Jan: 21.00 + 225.00 x 1.125 = 21.00 + 253.125 -> 253.13 (cents, half up) = 274.13; Feb: 1000.00 + 1.60
    assert eur.total(page.cells) == Converted("EUR", D("1275.73"))


def test_a_month_without_a_rate_is_missing_and_said_never_zero(hand_warehouse, reader) -> None:
    _rates(hand_warehouse, JAN_RATES)  # no EUR rate in February
    con = reader()
    page = sales_page(con, Filters())
    rates = monthly_rates(con, "GBP", MONTHS)
    jan, feb = (rates.convert(m.month, m.value) for m in page.by_month)
    assert jan.shown == 243.90
    assert feb == Converted("GBP", D("1.00"), Money({"EUR": D("1000.00")}))
    assert feb.shown is None  # missing on the chart, not the GBP part alone
    total = rates.total(page.cells)
    assert str(total) == "GBP 244.90 + not converted (no rate): EUR 1,000.00"
    assert rates.missing_note(page.cells) == "missing, not converted (no rate): EUR in Feb 2024"
    over = rates.over(page.cells)
    assert over.rate == {}  # EUR has a month without a rate: members' EUR stays unconverted
    assert over.convert(Money({"GBP": D("1.00"), "EUR": D("21.00")})) == Converted(
        "GBP", D("1.00"), Money({"EUR": D("21.00")})
    )
    assert over.missing_note == "missing, not converted (no rate): EUR in Feb 2024"
    # January alone has every rate: the page over it converts completely (rates of its month only)
    january = sales_page(con, Filters(start=JAN, end=JAN))
    jan_rates = monthly_rates(con, "GBP", [JAN])
    assert jan_rates.rate == {(JAN, "EUR"): D("0.9")}
    assert jan_rates.total(january.cells) == Converted("GBP", D("243.90"))
    assert jan_rates.over(january.cells).rate == {"EUR": D("0.9")}
    assert monthly_rates(con, "GBP", [FEB, MAR]).rate == {}
    assert monthly_rates(con, "GBP", []).rate == {}


def test_no_rates_at_all_converts_only_the_reporting_currency(hand_warehouse, reader) -> None:
    con = reader()
    rates = monthly_rates(con, "GBP", MONTHS)
    assert rates.rate == {}
    total = rates.total(sales_page(con, Filters()).cells)
    assert total == Converted("GBP", D("226.00"), Money({"EUR": D("1021.00")}))


def test_payments_convert_at_the_months_rates(rated, reader) -> None:
    con = reader()
    page = purchases_page(con, Filters())
    rates = monthly_rates(con, "GBP", MONTHS)
    assert [rates.convert(m.month, m.value) for m in page.purchases_by_month] == [Converted("GBP", D("45.00"))]
    # Payments: Feb GBP 250.00 + EUR 50.00 x 0.625 = 281.25; Mar GBP 7.00 (GBP needs no rate)
    assert rates.total(page.payment_cells) == Converted("GBP", D("288.25"))
    over = rates.over(page.payment_cells)
    paid = {k: over.convert(m) for k, (_, m) in page.paid_vs_unpaid().items()}
    assert paid == {True: Converted("GBP", D("281.25")), False: Converted("GBP", D("7.00"))}
    assert [over.convert(o.amount) for o in page.outstanding] == [Converted("GBP", D("7.00"))]
