"""Plotly figures for the pages. Money is drawn one series per currency, never summed
across currencies; counts and units, which do add up, are drawn as one series."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from dashboard.money import Money
from dashboard.purchases import MonthMoney, PurchasesPage
from dashboard.sales import MemberFigures, SalesPage

PER_CURRENCY = "per currency, not converted"
PURCHASE_PAYMENT = "PURCHASE_PAYMENT"  # dim_payment_type: money paid for purchase orders
LAYOUT = {"margin": {"l": 40, "r": 10, "t": 40, "b": 40}, "height": 320, "template": "plotly_white"}


def _figure(title: str, **layout: object) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(title={"text": title, "font": {"size": 14}}, **{**LAYOUT, **layout})
    return fig


def _currencies(items: Sequence[Money]) -> list[str]:
    return sorted({c for m in items for c in m.currencies})


def _money_hover(m: Money) -> str:
    return "<br>".join(f"{c} {m.amounts[c]:,.2f}" for c in m.currencies) or "no sales"


def sales_over_time(page: SalesPage) -> go.Figure:
    fig = _figure(f"Sales value by month ({PER_CURRENCY}) and units", yaxis2={"overlaying": "y", "side": "right"})
    months = [m.month for m in page.by_month]
    fig.add_bar(x=months, y=[m.units for m in page.by_month], name="units", yaxis="y2", opacity=0.25)
    for code in _currencies([m.value for m in page.by_month]):
        fig.add_scatter(x=months, y=[float(m.value.get(code)) for m in page.by_month], name=code, mode="lines+markers")
    return fig


def sales_by_currency(page: SalesPage) -> go.Figure:
    fig = _figure("Sales value by currency")
    codes = page.by_currency.currencies
    fig.add_bar(
        x=codes,
        y=[float(page.by_currency.get(c)) for c in codes],
        text=[f"{page.by_currency.get(c):,.2f}" for c in codes],
    )
    return fig


def _labels(members: Sequence[MemberFigures]) -> list[str]:
    """Member names, with the group (department, country) and, where two share a name, the id."""
    names = [f"{m.name} ({m.group})" if m.group else m.name for m in members]
    return [
        f"{n} #{m.id}" if names.count(n) > 1 and m.id is not None else n for n, m in zip(names, members, strict=True)
    ]


def members_by_units(title: str, members: Sequence[MemberFigures]) -> go.Figure:
    """Bars of units (they add up); each bar's value per currency in its hover text."""
    fig = _figure(title, yaxis={"autorange": "reversed"})
    names = _labels(members)
    fig.add_bar(
        y=names,
        x=[m.units for m in members],
        orientation="h",
        hovertext=[f"{m.orders:,} orders<br>{_money_hover(m.value)}" for m in members],
        name="units",
    )
    return fig


def members_value(title: str, members: Sequence[MemberFigures]) -> go.Figure:
    """Grouped bars: one bar per currency per member."""
    fig = _figure(f"{title} ({PER_CURRENCY})", barmode="group")
    names = _labels(members)
    for code in _currencies([m.value for m in members]):
        fig.add_bar(x=names, y=[float(m.value.get(code)) for m in members], name=code)
    return fig


def purchases_vs_payments(page: PurchasesPage) -> go.Figure:
    """Purchase orders placed vs payments made for purchases (PURCHASE_PAYMENT), per month and currency."""
    fig = _figure(f"Purchase orders vs purchase payments by month ({PER_CURRENCY})")
    series: dict[tuple[str, str], dict[object, float]] = {}
    rows: list[MonthMoney] = [
        *page.purchases_by_month,
        *(r for r in page.payments_by_month if r.series == PURCHASE_PAYMENT),
    ]
    for r in rows:
        name = "payments made" if r.series == PURCHASE_PAYMENT else r.series
        for code in r.value.currencies:
            series.setdefault((code, name), {})[r.month] = float(r.value.get(code))
    for (code, name), points in sorted(series.items()):
        xs = sorted(points)
        dash = "dot" if name == "payments made" else "solid"
        fig.add_scatter(x=xs, y=[points[x] for x in xs], name=f"{name} {code}", mode="lines", line={"dash": dash})
    return fig


def paid_vs_unpaid(page: PurchasesPage) -> go.Figure:
    fig = _figure(f"Paid vs unpaid payments ({PER_CURRENCY})", barmode="group")
    totals = page.paid_vs_unpaid()
    labels = {True: "paid", False: "unpaid"}
    for code in _currencies([m for _, m in totals.values()]):
        keys = sorted(totals, reverse=True)
        fig.add_bar(x=[labels[k] for k in keys], y=[float(totals[k][1].get(code)) for k in keys], name=code)
    return fig


def payment_types(page: PurchasesPage) -> go.Figure:
    fig = _figure("Payments by type (count; amounts per currency on hover)", barmode="stack")
    for paid in (True, False):
        groups = [g for g in page.by_type if g.paid is paid]
        fig.add_bar(
            x=[g.type for g in groups],
            y=[g.payments for g in groups],
            name="paid" if paid else "unpaid",
            hovertext=[_money_hover(g.amount) for g in groups],
        )
    return fig
