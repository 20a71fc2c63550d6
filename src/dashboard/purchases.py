"""The Purchases and Payments page's figures, in one query, from the summaries (also over a
date range: totals per month, unpaid payments' running totals per month) or, with a
counterparty filter, finer than they are kept by, from the current versions of the facts
(``analytics.purchase_current``, ``payment_current``).

Purchases are dated by created_date, payments by payment_date. Money stays per currency;
converted into one reporting currency only by ``money.MonthlyRates`` (``PurchasesPage.payment_cells``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

import pg8000.native

from dashboard.filters import Conditions, Filters, member_conditions, month_conditions, running_range
from dashboard.money import Money, money_by_currency

TOP = 10

PURCHASE_SUMMARY = """
    SELECT breakdown, period, currency_id, member_id, orders, value
    FROM analytics.purchase_summary WHERE {where}
"""
# From the current, live versions (analytics.purchase_current, payment_current:
# sql/warehouse/012_analytics_current_versions.sql), read through the counterparty's index.
PURCHASE_CURRENT = """
    SELECT CASE WHEN grouping(counterparty_id) = 0 THEN 'counterparty' ELSE 'total' END AS breakdown,
           CASE WHEN grouping(month) = 0 THEN month ELSE '-infinity' END AS period, currency_id,
           coalesce(counterparty_id, 0) AS member_id, count(*) AS orders, sum(cents) * 0.01 AS value
    FROM analytics.purchase_current f WHERE {where}
    GROUP BY GROUPING SETS ((month, currency_id), (currency_id, counterparty_id))
"""
PAYMENT_SUMMARY = """
    SELECT breakdown, period, currency_id, payment_type_id, paid, member_id, payments, amount
    FROM analytics.payment_summary WHERE {where}
"""
# Over a date range: the months' 'type' rows, their sum as the range's 'type' rows, and each
# counterparty's unpaid payments over the range from its running totals.
PAYMENT_RANGE_SUMMARY = """
    SELECT breakdown, period, currency_id, payment_type_id, paid, member_id, payments, amount
    FROM analytics.payment_summary WHERE breakdown = 'type' AND period <> '-infinity' AND {months} AND {where}
    UNION ALL
    SELECT 'type', '-infinity', currency_id, payment_type_id, paid, 0, sum(payments), sum(amount)
    FROM analytics.payment_summary WHERE breakdown = 'type' AND period <> '-infinity' AND {months} AND {where}
    GROUP BY currency_id, payment_type_id, paid
    UNION ALL
    SELECT breakdown, period, currency_id, payment_type_id, paid, member_id, {payments}, {amount}
    FROM analytics.payment_summary WHERE breakdown = 'unpaid' AND {where}
"""
PAYMENT_CURRENT = """
    SELECT 'type' AS breakdown, CASE WHEN grouping(month) = 0 THEN month ELSE '-infinity' END AS period,
           currency_id, payment_type_id, paid, 0 AS member_id, count(*) AS payments, sum(cents) * 0.01 AS amount
    FROM pay GROUP BY GROUPING SETS ((month, currency_id, payment_type_id, paid), (currency_id, payment_type_id, paid))
    UNION ALL
    SELECT 'unpaid', '-infinity', currency_id, 0, false, counterparty_id, count(*), sum(cents) * 0.01
    FROM pay WHERE NOT paid GROUP BY currency_id, counterparty_id
"""
PAYMENT_ROWS = "SELECT * FROM analytics.payment_current f WHERE {where}"

PAGE_SQL = """
WITH {pay}
purchases AS {materialized} ({purchases}),
payments AS {materialized} ({payments}),
top_unpaid AS (
    SELECT member_id, row_number() OVER (ORDER BY sum(payments) DESC, member_id) AS rank
    FROM payments WHERE breakdown = 'unpaid' AND period = '-infinity'
    GROUP BY member_id HAVING sum(payments) > 0
)
SELECT json_build_object(
    'purchases_by_month', (
        SELECT coalesce(json_agg(json_build_object('month', p.period, 'currency', c.currency_code,
                 'orders', p.orders, 'value', p.value::text) ORDER BY p.period, c.currency_code), '[]')
        FROM purchases p JOIN dim_currency c USING (currency_id)
        WHERE p.breakdown = 'total' AND p.period <> '-infinity' AND p.orders > 0),
    'payments_by_month', (
        SELECT coalesce(json_agg(x ORDER BY x.month, x.type, x.currency), '[]') FROM (
            SELECT p.period AS month, t.payment_type_name AS type, c.currency_code AS currency,
                   sum(p.payments) AS payments, sum(p.amount)::text AS amount
            FROM payments p JOIN dim_currency c USING (currency_id) JOIN dim_payment_type t USING (payment_type_id)
            WHERE p.breakdown = 'type' AND p.period <> '-infinity' GROUP BY 1, 2, 3 HAVING sum(p.payments) > 0) x),
    'by_type', (
        SELECT coalesce(json_agg(x ORDER BY x.type, x.paid DESC, x.currency), '[]') FROM (
            SELECT t.payment_type_name AS type, p.paid, c.currency_code AS currency,
                   sum(p.payments) AS payments, sum(p.amount)::text AS amount
            FROM payments p JOIN dim_currency c USING (currency_id) JOIN dim_payment_type t USING (payment_type_id)
            WHERE p.breakdown = 'type' AND p.period = '-infinity' GROUP BY 1, 2, 3 HAVING sum(p.payments) > 0) x),
    'outstanding', (
        SELECT coalesce(json_agg(x ORDER BY x.rank, x.currency), '[]') FROM (
            SELECT u.rank, p.member_id AS id, cp.counterparty_legal_name AS name, c.currency_code AS currency,
                   sum(p.payments) AS payments, sum(p.amount)::text AS amount
            FROM payments p JOIN top_unpaid u USING (member_id) JOIN dim_currency c USING (currency_id)
            JOIN dim_counterparty cp ON cp.counterparty_id = p.member_id
            WHERE p.breakdown = 'unpaid' AND p.period = '-infinity' AND u.rank <= :top
            GROUP BY 1, 2, 3, 4 HAVING sum(p.payments) > 0) x)
)
"""

CURRENT_COLUMNS = {"currency": "f.currency_id", "counterparty": "f.counterparty_id"}


@dataclass(frozen=True)
class MonthMoney:
    month: date
    series: str  # 'purchase orders' or a payment type
    count: int
    value: Money


@dataclass(frozen=True)
class PaymentGroup:
    type: str
    paid: bool
    payments: int
    amount: Money


@dataclass(frozen=True)
class Outstanding:
    counterparty_id: int
    name: str
    payments: int
    amount: Money


@dataclass(frozen=True)
class PurchasesPage:
    purchases_by_month: list[MonthMoney]
    payments_by_month: list[MonthMoney]  # series = payment type
    by_type: list[PaymentGroup]
    outstanding: list[Outstanding]  # counterparties with the most unpaid payments
    from_summaries: bool

    @property
    def payment_cells(self) -> list[tuple[date, Money]]:
        """Payments per month and currency (every type): what converts the payment figures over the range."""
        return [(m.month, m.value) for m in self.payments_by_month]

    def paid_vs_unpaid(self) -> dict[bool, tuple[int, Money]]:
        out: dict[bool, tuple[int, Money]] = {}
        for g in self.by_type:
            n, m = out.get(g.paid, (0, Money()))
            out[g.paid] = (n + g.payments, m + g.amount)
        return out


def purchases_page(con: pg8000.native.Connection, filters: Filters, *, facts: bool = False) -> PurchasesPage:
    """Every figure of the Purchases and Payments page for ``filters`` (currency, counterparty, months).

    ``facts``: as ``sales.sales_page``'s.
    """
    facts = facts or filters.needs_facts
    if facts:
        pw = member_conditions(filters, CURRENT_COLUMNS)
        month_conditions(filters, "f.month", pw)
        yw = member_conditions(filters, CURRENT_COLUMNS, prefix="y_")
        month_conditions(filters, "f.month", yw, prefix="y_")
        pay = f"pay AS MATERIALIZED ({PAYMENT_ROWS.format(where=yw.sql)}),"
        purchases = PURCHASE_CURRENT.format(where=pw.sql)
        sql = PAGE_SQL.format(pay=pay, materialized="MATERIALIZED", purchases=purchases, payments=PAYMENT_CURRENT)
    else:
        pw = member_conditions(filters, {"currency": "currency_id"})
        month_conditions(filters, "period", pw)  # the page reads the purchase totals per month only
        yw = member_conditions(filters, {"currency": "currency_id"}, prefix="y_")
        sql = PAGE_SQL.format(
            pay="",
            materialized="NOT MATERIALIZED",
            purchases=PURCHASE_SUMMARY.format(where=pw.sql),
            payments=_payment_summary(filters, yw),
        )
    params = {**pw.params, **yw.params}
    doc = con.run(sql, top=TOP, **params)[0][0]
    doc = json.loads(doc) if isinstance(doc, str) else doc
    return PurchasesPage(
        purchases_by_month=_months(doc["purchases_by_month"], lambda r: "purchase orders", "orders", "value"),
        payments_by_month=_months(doc["payments_by_month"], lambda r: r["type"], "payments", "amount"),
        by_type=_groups(doc["by_type"]),
        outstanding=_outstanding(doc["outstanding"]),
        from_summaries=not facts,
    )


def _payment_summary(filters: Filters, where: Conditions) -> str:
    """The payment summaries' rows for ``filters`` (currency and months); binds into ``where``."""
    if not filters.has_range:
        return PAYMENT_SUMMARY.format(where=where.sql)
    months = month_conditions(filters, "period", prefix="y_")
    payments = running_range(filters, "running_payments", months, prefix="y_")
    amount = running_range(filters, "running_cents", months, prefix="y_") + " * 0.01"
    sql = PAYMENT_RANGE_SUMMARY.format(where=where.sql, months=months.sql, payments=payments, amount=amount)
    where.params.update(months.params)
    return sql


def _months(rows: list[dict[str, Any]], series: Any, count: str, value: str) -> list[MonthMoney]:
    by: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        by.setdefault((r["month"], series(r)), []).append(r)
    return [
        MonthMoney(
            date.fromisoformat(m),
            s,
            sum(r[count] for r in rs),
            money_by_currency((r["currency"], r[value]) for r in rs),
        )
        for (m, s), rs in sorted(by.items())
    ]


def _groups(rows: list[dict[str, Any]]) -> list[PaymentGroup]:
    by: dict[tuple[str, bool], list[dict[str, Any]]] = {}
    for r in rows:
        by.setdefault((r["type"], r["paid"]), []).append(r)
    return [
        PaymentGroup(
            t, paid, sum(r["payments"] for r in rs), money_by_currency((r["currency"], r["amount"]) for r in rs)
        )
        for (t, paid), rs in by.items()
    ]


def _outstanding(rows: list[dict[str, Any]]) -> list[Outstanding]:
    by: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        by.setdefault(r["id"], []).append(r)
    return [
        Outstanding(
            i,
            rs[0]["name"],
            sum(r["payments"] for r in rs),
            money_by_currency((r["currency"], r["amount"]) for r in rs),
        )
        for i, rs in by.items()
    ]
