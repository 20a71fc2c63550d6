"""Money in several currencies, kept apart: amounts add up per currency and never across.

``Money`` is what every query returns for a value. A page converts into one reporting
currency only when asked (the pages' "Reporting currency" control), with the rates the
warehouse holds (``public.fx_rate``, docs/load.md "Exchange rates"), here and nowhere else:

* a month's figure (a ``(month, currency)`` cell of the summaries) at that month's average
  rate (``MonthlyRates``: the mean of the daily rates of the month on which both currencies
  have one), rounded to cents per cell: exact and reproducible;
* a figure over the page's months that is not kept per month (a member's total over a range,
  paid vs unpaid) at each currency's rate over the page (``PageRates``): its months' rates
  weighted by the page's own monthly values in that currency, so the members of a chart add up
  to the page's converted total;
* a currency with no rate in a month is never converted with a guess nor dropped: what cannot
  be converted stays in ``Converted.unconverted`` (per currency) and the charts show it as
  missing and say so (``missing_note``).

The conversion is done at page time from the summaries' cells and one small query of the
rates (``MONTH_RATES_SQL``): nothing is added to the load.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import pg8000.native


@dataclass(frozen=True)
class Money:
    """Amounts per ISO currency code; adding two adds per currency."""

    amounts: Mapping[str, Decimal] = field(default_factory=dict)

    def __add__(self, other: Money) -> Money:
        out = dict(self.amounts)
        for code, amount in other.amounts.items():
            out[code] = out.get(code, Decimal(0)) + amount
        return Money(out)

    @classmethod
    def total(cls, items: Iterable[Money]) -> Money:
        out = cls()
        for m in items:
            out = out + m
        return out

    def get(self, code: str) -> Decimal:
        return self.amounts.get(code, Decimal(0))

    @property
    def currencies(self) -> list[str]:
        return sorted(self.amounts)

    def __str__(self) -> str:
        return ", ".join(f"{code} {self.amounts[code]:,.2f}" for code in self.currencies) or "none"


def money_by_currency(pairs: Iterable[tuple[str, str | Decimal]]) -> Money:
    """(currency code, amount) pairs, amounts as exact decimal text or Decimal."""
    return Money.total(Money({code: Decimal(amount)}) for code, amount in pairs)


CENT = Decimal("0.01")
PER_CURRENCY = "per currency, not converted"

# Each currency's rate into the reporting currency per month: the mean over the month's days on
# which both have a rate of (reporting units per base unit) / (currency units per base unit).
# The base currency (GBP) is 1 on every rate date, whether or not the document listed it.
# Only currencies the warehouse has (dim_currency); the reporting currency itself is 1 always.
# Only the page's months: from :first to before :after (the month after its last).
MONTH_RATES_SQL = """
WITH daily AS (
    SELECT rate_date, currency_code, rate FROM public.fx_rate
    WHERE rate_date >= :first AND rate_date < :after
    UNION ALL
    SELECT DISTINCT f.rate_date, f.base_currency, 1 FROM public.fx_rate f
    WHERE f.rate_date >= :first AND f.rate_date < :after
      AND NOT EXISTS (SELECT 1 FROM public.fx_rate b WHERE b.currency_code = f.base_currency
                      AND b.rate_date = f.rate_date)
)
SELECT CAST(date_trunc('month', c.rate_date) AS date) AS month, c.currency_code,
       CAST(avg(r.rate / c.rate) AS text) AS rate
FROM daily c JOIN daily r ON r.rate_date = c.rate_date AND r.currency_code = :reporting
WHERE c.currency_code IN (SELECT currency_code FROM public.dim_currency) AND c.currency_code <> :reporting
GROUP BY 1, 2
"""


@dataclass(frozen=True)
class Converted:
    """A figure in the reporting currency, and what of it could not be converted (no rate)."""

    reporting: str
    value: Decimal = Decimal(0)
    unconverted: Money = field(default_factory=Money)

    def __add__(self, other: Converted) -> Converted:
        return Converted(self.reporting, self.value + other.value, self.unconverted + other.unconverted)

    @classmethod
    def sum(cls, reporting: str, items: Iterable[Converted]) -> Converted:
        out = cls(reporting)
        for c in items:
            out = out + c
        return out

    @property
    def complete(self) -> bool:
        return not self.unconverted.amounts

    @property
    def shown(self) -> float | None:
        """The chart's value: None (missing) unless everything was converted, never a part of it."""
        return float(self.value) if self.complete else None

    def __str__(self) -> str:
        text = f"{self.reporting} {self.value:,.2f}"
        return text if self.complete else f"{text} + not converted (no rate): {self.unconverted}"


@dataclass(frozen=True)
class MonthlyRates:
    """Each currency's average rate per month into ``reporting`` (reporting = amount * rate)."""

    reporting: str
    rate: Mapping[tuple[date, str], Decimal]

    @property
    def label(self) -> str:
        return f"converted to {self.reporting} at each month's average rate"

    def convert(self, month: date, money: Money) -> Converted:
        """Each currency at ``month``'s rate, rounded to cents; one with no rate that month stays unconverted."""
        value, missing = Decimal(0), {}
        for code in money.currencies:
            rate = Decimal(1) if code == self.reporting else self.rate.get((month, code))
            if rate is None:
                missing[code] = money.amounts[code]
            else:
                value += (money.amounts[code] * rate).quantize(CENT, ROUND_HALF_UP)
        return Converted(self.reporting, value, Money(missing))

    def over(self, cells: Iterable[tuple[date, Money]]) -> PageRates:
        """Each currency's rate over the page: its converted monthly ``cells`` over their amounts.

        A currency with a month without a rate among ``cells`` gets none (its figures stay unconverted)."""
        amount: dict[str, Decimal] = {}
        converted: dict[str, Decimal] = {}
        missing: set[str] = set()
        cells = list(cells)
        for month, money in cells:
            for code in money.currencies:
                c = self.convert(month, Money({code: money.amounts[code]}))
                missing.update(c.unconverted.currencies)
                amount[code] = amount.get(code, Decimal(0)) + money.amounts[code]
                converted[code] = converted.get(code, Decimal(0)) + c.value
        rate = {
            code: converted[code] / amount[code]
            for code in amount
            if code != self.reporting and code not in missing and amount[code]
        }
        return PageRates(self.reporting, rate, self.missing_note(cells))

    def total(self, cells: Iterable[tuple[date, Money]]) -> Converted:
        """The page's total: its monthly cells converted, added up (so it equals the sum of its parts)."""
        return Converted.sum(self.reporting, (self.convert(month, money) for month, money in cells))

    def missing_note(self, cells: Iterable[tuple[date, Money]]) -> str:
        """What the chart says about months without a rate ('' when there are none)."""
        gaps: dict[str, list[date]] = {}
        for month, money in cells:
            for code in self.convert(month, money).unconverted.currencies:
                if month not in gaps.setdefault(code, []):
                    gaps[code].append(month)
        return _note({code: [f"{m:%b %Y}" for m in sorted(ms)] for code, ms in gaps.items()})


@dataclass(frozen=True)
class PageRates:
    """One rate per currency over a page's months (``MonthlyRates.over``), for figures not kept per month."""

    reporting: str
    rate: Mapping[str, Decimal]
    missing_note: str = ""  # the months without a rate, as ``MonthlyRates.missing_note`` says them

    @property
    def label(self) -> str:
        return f"converted to {self.reporting} at the value-weighted average of the months' average rates"

    def convert(self, money: Money) -> Converted:
        value, missing = Decimal(0), {}
        for code in money.currencies:
            rate = Decimal(1) if code == self.reporting else self.rate.get(code)
            if rate is None:
                missing[code] = money.amounts[code]
            else:
                value += money.amounts[code] * rate
        return Converted(self.reporting, value.quantize(CENT, ROUND_HALF_UP), Money(missing))


def _note(gaps: Mapping[str, list[str]]) -> str:
    if not gaps:
        return ""
    listed = "; ".join(f"{code} in {', '.join(ms)}" for code, ms in sorted(gaps.items()))
    return f"missing, not converted (no rate): {listed}"


def monthly_rates(con: pg8000.native.Connection, reporting: str, months: Iterable[date]) -> MonthlyRates:
    """The warehouse's average rate into ``reporting`` per currency and month of ``months`` (the
    first days of the page's months; one small query of fx_rate over their span)."""
    span = sorted(set(months))
    if not span:
        return MonthlyRates(reporting, {})
    last = span[-1]
    after = date(last.year + last.month // 12, last.month % 12 + 1, 1)
    rows = con.run(MONTH_RATES_SQL, reporting=reporting, first=span[0], after=after)
    return MonthlyRates(reporting, {(month, code): Decimal(rate) for month, code, rate in rows})
