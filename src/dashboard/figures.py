"""Plotly figures for the pages. Money is drawn one series per currency, never summed
across currencies, unless the page asks for one reporting currency (``rates``): then each
money figure is one series in that currency, converted by ``money.py`` only, and the chart
says how (and which months had no rate: those figures are missing, not zero). Counts and
units, which do add up, are drawn as one series."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import plotly.graph_objects as go

from dashboard.money import PER_CURRENCY, Converted, Money, MonthlyRates, PageRates
from dashboard.purchases import MonthMoney, PurchasesPage
from dashboard.sales import MemberFigures, SalesPage

PURCHASE_PAYMENT = "PURCHASE_PAYMENT"  # dim_payment_type: money paid for purchase orders
LAYOUT = {"margin": {"l": 40, "r": 10, "t": 70, "b": 40}, "height": 340, "template": "plotly_white"}


def _figure(title: str, basis: str = PER_CURRENCY, note: str = "", **layout: object) -> go.Figure:
    """A figure whose title says how its money was computed (``basis``) and what is missing (``note``)."""
    text = f"{title}<br><sub>{basis}</sub>" + (f"<br><sub>{note}</sub>" if note else "")
    fig = go.Figure()
    fig.update_layout(title={"text": text, "font": {"size": 14}}, **{**LAYOUT, **layout})
    return fig


def _currencies(items: Sequence[Money]) -> list[str]:
    return sorted({c for m in items for c in m.currencies})


def _money_hover(m: Money) -> str:
    return "<br>".join(f"{c} {m.amounts[c]:,.2f}" for c in m.currencies) or "no sales"


def _hover(m: Money, rates: PageRates | None) -> str:
    return _money_hover(m) if rates is None else str(rates.convert(m))


def sales_over_time(page: SalesPage, rates: MonthlyRates | None = None) -> go.Figure:
    basis, note = (PER_CURRENCY, "") if rates is None else (rates.label, rates.missing_note(page.cells))
    fig = _figure("Sales value by month and units", basis, note, yaxis2={"overlaying": "y", "side": "right"})
    months = [m.month for m in page.by_month]
    fig.add_bar(x=months, y=[m.units for m in page.by_month], name="units", yaxis="y2", opacity=0.25)
    if rates is not None:
        converted = [rates.convert(m.month, m.value) for m in page.by_month]
        fig.add_scatter(
            x=months,
            y=[c.shown for c in converted],
            hovertext=[str(c) for c in converted],
            name=f"value {rates.reporting}",
            mode="lines+markers",
        )
        return fig
    for code in _currencies([m.value for m in page.by_month]):
        fig.add_scatter(x=months, y=[float(m.value.get(code)) for m in page.by_month], name=code, mode="lines+markers")
    return fig


def sales_by_currency(page: SalesPage, rates: MonthlyRates | None = None) -> go.Figure:
    codes = page.by_currency.currencies
    if rates is None:
        fig = _figure("Sales value by currency")
        values = [page.by_currency.get(c) for c in codes]
        fig.add_bar(x=codes, y=[float(v) for v in values], text=[f"{v:,.2f}" for v in values])
        return fig
    fig = _figure("Sales value by currency sold in", rates.label, rates.missing_note(page.cells))
    converted = [rates.total((m, v) for m, v in _only(page.cells, c)) for c in codes]
    fig.add_bar(
        x=codes,
        y=[c.shown for c in converted],
        text=[f"{c.value:,.2f}" if c.complete else "missing" for c in converted],
        hovertext=[str(c) for c in converted],
        name=rates.reporting,
    )
    return fig


def _only(cells: Sequence[tuple[date, Money]], code: str) -> list[tuple[date, Money]]:
    return [(m, Money({code: v.amounts[code]})) for m, v in cells if code in v.amounts]


def _labels(members: Sequence[MemberFigures]) -> list[str]:
    """Member names, with the group (department, country) and, where two share a name, the id."""
    names = [f"{m.name} ({m.group})" if m.group else m.name for m in members]
    return [
        f"{n} #{m.id}" if names.count(n) > 1 and m.id is not None else n for n, m in zip(names, members, strict=True)
    ]


def members_by_units(title: str, members: Sequence[MemberFigures], rates: PageRates | None = None) -> go.Figure:
    """Bars of units (they add up); each bar's value (per currency, or converted) in its hover text."""
    basis, note = ("value on hover " + PER_CURRENCY, "") if rates is None else ("value on hover " + rates.label, "")
    if rates is not None and any(not rates.convert(m.value).complete for m in members):
        note = rates.missing_note
    fig = _figure(title, basis, note, yaxis={"autorange": "reversed"})
    names = _labels(members)
    fig.add_bar(
        y=names,
        x=[m.units for m in members],
        orientation="h",
        hovertext=[f"{m.orders:,} orders<br>{_hover(m.value, rates)}" for m in members],
        name="units",
    )
    return fig


def members_value(title: str, members: Sequence[MemberFigures], rates: PageRates | None = None) -> go.Figure:
    """Grouped bars: one bar per currency per member, or one bar per member in the reporting currency."""
    names = _labels(members)
    if rates is None:
        fig = _figure(title, barmode="group")
        for code in _currencies([m.value for m in members]):
            fig.add_bar(x=names, y=[float(m.value.get(code)) for m in members], name=code)
        return fig
    converted = [rates.convert(m.value) for m in members]
    note = "" if all(c.complete for c in converted) else rates.missing_note
    fig = _figure(title, rates.label, note)
    fig.add_bar(x=names, y=[c.shown for c in converted], hovertext=[str(c) for c in converted], name=rates.reporting)
    return fig


def purchases_vs_payments(page: PurchasesPage, rates: MonthlyRates | None = None) -> go.Figure:
    """Purchase orders placed vs payments made for purchases (PURCHASE_PAYMENT), per month and currency."""
    rows: list[MonthMoney] = [
        *page.purchases_by_month,
        *(r for r in page.payments_by_month if r.series == PURCHASE_PAYMENT),
    ]
    basis, note = (
        (PER_CURRENCY, "") if rates is None else (rates.label, rates.missing_note((r.month, r.value) for r in rows))
    )
    fig = _figure("Purchase orders vs purchase payments by month", basis, note)
    series: dict[tuple[str, str], dict[date, Converted | float]] = {}
    for r in rows:
        name = "payments made" if r.series == PURCHASE_PAYMENT else r.series
        if rates is not None:
            series.setdefault((rates.reporting, name), {})[r.month] = rates.convert(r.month, r.value)
            continue
        for code in r.value.currencies:
            series.setdefault((code, name), {})[r.month] = float(r.value.get(code))
    for (code, name), points in sorted(series.items()):
        xs = sorted(points)
        ys = [p.shown if isinstance(p, Converted) else p for p in (points[x] for x in xs)]
        dash = "dot" if name == "payments made" else "solid"
        fig.add_scatter(x=xs, y=ys, name=f"{name} {code}", mode="lines+markers", line={"dash": dash})
    return fig


def paid_vs_unpaid(page: PurchasesPage, rates: PageRates | None = None) -> go.Figure:
    totals = page.paid_vs_unpaid()
    labels = {True: "paid", False: "unpaid"}
    keys = sorted(totals, reverse=True)
    if rates is not None:
        converted = [rates.convert(totals[k][1]) for k in keys]
        note = "" if all(c.complete for c in converted) else rates.missing_note
        fig = _figure("Paid vs unpaid payments", rates.label, note)
        fig.add_bar(
            x=[labels[k] for k in keys],
            y=[c.shown for c in converted],
            hovertext=[str(c) for c in converted],
            name=rates.reporting,
        )
        return fig
    fig = _figure("Paid vs unpaid payments", barmode="group")
    for code in _currencies([m for _, m in totals.values()]):
        fig.add_bar(x=[labels[k] for k in keys], y=[float(totals[k][1].get(code)) for k in keys], name=code)
    return fig


def payment_types(page: PurchasesPage, rates: PageRates | None = None) -> go.Figure:
    basis = "count; amounts on hover " + (PER_CURRENCY if rates is None else rates.label)
    fig = _figure("Payments by type", basis, "" if rates is None else rates.missing_note, barmode="stack")
    for paid in (True, False):
        groups = [g for g in page.by_type if g.paid is paid]
        fig.add_bar(
            x=[g.type for g in groups],
            y=[g.payments for g in groups],
            name="paid" if paid else "unpaid",
            hovertext=[_hover(g.amount, rates) for g in groups],
        )
    return fig
