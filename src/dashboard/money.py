"""Money in several currencies, kept apart: amounts add up per currency and never across.

``Money`` is what every query returns for a value. Converting into one reporting
currency needs the rates of the exchange-rate work (issue 17); until the warehouse
holds them, ``reporting_rates`` finds none and the pages show values per currency.
Once a rates table exists, a ``Rates`` built from it converts a ``Money`` into one
figure, and the chart says so (``Converted.label``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

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


@dataclass(frozen=True)
class Rates:
    """Rates into one reporting currency (reporting = rate * amount); from the warehouse's rates table."""

    reporting: str
    rate: Mapping[str, Decimal]
    source: str

    def convert(self, money: Money) -> Decimal | None:
        """One figure in the reporting currency, or None when a currency has no rate."""
        if any(code not in self.rate for code in money.currencies):
            return None
        return sum((money.amounts[c] * self.rate[c] for c in money.currencies), Decimal(0))

    @property
    def label(self) -> str:
        return f"converted to {self.reporting} ({self.source})"


RATES_TABLES = ("dim_exchange_rate", "exchange_rate")  # names the exchange-rate work may give its table


def reporting_rates(con: pg8000.native.Connection) -> Rates | None:
    """The rates to convert with, or None while the warehouse holds none (values stay per currency).

    The slot for issue 17: when its table lands, read the rate of each fact's date from it
    here (and per row in the queries); until then no conversion is ever made.
    """
    found = con.run(
        "SELECT 1 FROM information_schema.tables"
        " WHERE table_schema = 'public' AND table_name = ANY(CAST(:t AS text[]))",
        t=list(RATES_TABLES),
    )
    if not found:
        return None
    return None  # a rates table exists but its shape is not agreed yet: never convert with a guess
