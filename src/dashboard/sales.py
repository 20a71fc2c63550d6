"""The Sales page's figures: one query per page, from the summaries or, when a filter is
finer than they are kept by (a member of a dimension), from the current sales-order
versions themselves (``analytics.sales_current``: one narrow row per current, live
version, indexed by member). A date range is answered by the summaries: totals per month, and
each member's running totals per month (sql/warehouse/007_analytics_month_ranges.sql).

Both sources give rows of the same shape (``breakdown, period, currency_id, member_id,
orders, units, value``, as ``analytics.sales_summary``): 'total' rows per month, member
rows for everything the filters let through (period '-infinity'), at most one per breakdown,
member and currency (``PAGE_SQL`` does not add them up again). Every chart is computed
the same way from either, and a test holds one against the other. Money stays per
currency (``money.py``): units and order counts add up across currencies, values never;
converted into one reporting currency only by ``money.MonthlyRates`` (``SalesPage.cells``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

import pg8000.native

from dashboard.filters import Conditions, Filters, member_conditions, month_conditions, running_range
from dashboard.money import Money, money_by_currency

TOP = 10  # members shown in each "top" chart

# Totals per month in the range; member rows' figures for the range (``_summary_source``).
SUMMARY_SOURCE = """
    SELECT breakdown, period, currency_id, member_id, orders, units, value
    FROM analytics.sales_summary WHERE breakdown = 'total' AND period <> '-infinity' AND {months} AND {where}
    UNION ALL
    SELECT breakdown, period, currency_id, member_id, {orders} AS orders, {units} AS units, {value} AS value
    FROM analytics.sales_summary WHERE breakdown <> 'total' AND {where}
"""

# The summaries' rows for the current, live versions that pass the filters: grouped from
# analytics.sales_current (sql/warehouse/012_analytics_current_versions.sql), read through its
# member's index; labelled as the fold labels the summaries (analytics.sales_breakdown).
CURRENT_SOURCE = """
    SELECT analytics.sales_breakdown(grouping(design_id, counterparty_id, sales_staff_id, agreed_delivery_location_id))
               AS breakdown,
           CASE WHEN grouping(month) = 0 THEN month ELSE '-infinity' END AS period, currency_id,
           coalesce(design_id, counterparty_id, sales_staff_id, agreed_delivery_location_id, 0) AS member_id,
           count(*) AS orders, sum(units_sold) AS units, sum(cents) * 0.01 AS value
    FROM analytics.sales_current f
    WHERE {where}
    GROUP BY GROUPING SETS (
        (month, currency_id), (currency_id, design_id), (currency_id, counterparty_id),
        (currency_id, sales_staff_id), (currency_id, agreed_delivery_location_id)
    )
"""

# A department's rows (sql/warehouse/014_analytics_department_summary.sql, keyed by
# analytics.department since 021), added up over the departments asked for: all-time member
# rows and month totals.
DEPARTMENT_SOURCE = """
    SELECT breakdown, period, currency_id, member_id, sum(orders) AS orders, sum(units) AS units,
           sum(cents) * 0.01 AS value
    FROM analytics.department_summary WHERE {where}
    GROUP BY breakdown, period, currency_id, member_id
"""

# ``members`` are the source's member rows as they are (one per breakdown, member and currency),
# read once; only designs, counterparties and staff are ranked (places are shown by city). The
# places join ``dim_location`` behind ``OFFSET 0``: the planner underestimates a CTE's member
# rows and looked each place up by its key (~8.5k index probes at 1M), where one hash of the ~3k
# places is cheaper (docs/benchmarks.md, "A department over a date range").
PAGE_SQL = """
WITH src AS {materialized} ({source}),
by_month AS (
    SELECT period AS month, currency_id, orders, units, value
    FROM src WHERE breakdown = 'total' AND period <> '-infinity'
),
members AS MATERIALIZED (
    SELECT breakdown, member_id, currency_id, orders, units, value FROM src WHERE breakdown <> 'total'
),
ranked AS (
    SELECT breakdown, member_id,
           row_number() OVER (PARTITION BY breakdown ORDER BY sum(units) DESC, member_id) AS rank
    FROM members WHERE breakdown <> 'location' GROUP BY 1, 2 HAVING sum(orders) > 0  -- places: no top 10
),
top AS (
    SELECT m.*, r.rank FROM members m JOIN ranked r USING (breakdown, member_id)
    WHERE r.rank <= :top AND m.orders > 0
)
SELECT json_build_object(
    'by_month', (
        SELECT coalesce(json_agg(json_build_object('month', b.month, 'currency', c.currency_code,
                 'orders', b.orders, 'units', b.units, 'value', b.value::text) ORDER BY b.month, c.currency_code), '[]')
        FROM by_month b JOIN dim_currency c USING (currency_id) WHERE b.orders > 0),
    'designs', (
        SELECT coalesce(json_agg(json_build_object('id', t.member_id, 'name', d.design_name, 'rank', t.rank,
                 'currency', c.currency_code, 'orders', t.orders, 'units', t.units, 'value', t.value::text)
                 ORDER BY t.rank, c.currency_code), '[]')
        FROM top t JOIN dim_design d ON d.design_id = t.member_id JOIN dim_currency c USING (currency_id)
        WHERE t.breakdown = 'design'),
    'counterparties', (
        SELECT coalesce(json_agg(json_build_object('id', t.member_id, 'name', p.counterparty_legal_name,
                 'rank', t.rank, 'currency', c.currency_code, 'orders', t.orders, 'units', t.units,
                 'value', t.value::text) ORDER BY t.rank, c.currency_code), '[]')
        FROM top t JOIN dim_counterparty p ON p.counterparty_id = t.member_id JOIN dim_currency c USING (currency_id)
        WHERE t.breakdown = 'counterparty'),
    'staff', (
        SELECT coalesce(json_agg(json_build_object('id', t.member_id,
                 'name', s.first_name || ' ' || s.last_name, 'department', s.department_name, 'rank', t.rank,
                 'currency', c.currency_code, 'orders', t.orders, 'units', t.units, 'value', t.value::text)
                 ORDER BY t.rank, c.currency_code), '[]')
        FROM top t JOIN dim_staff s ON s.staff_id = t.member_id JOIN dim_currency c USING (currency_id)
        WHERE t.breakdown = 'staff'),
    'departments', (
        SELECT coalesce(json_agg(x ORDER BY x.units DESC, x.name, x.currency), '[]') FROM (
            SELECT s.department_name AS name, c.currency_code AS currency, sum(m.orders) AS orders,
                   sum(m.units) AS units, sum(m.value)::text AS value
            FROM members m JOIN dim_staff s ON s.staff_id = m.member_id JOIN dim_currency c USING (currency_id)
            WHERE m.breakdown = 'staff' GROUP BY 1, 2 HAVING sum(m.orders) > 0) x),
    'locations', (
        SELECT coalesce(json_agg(x ORDER BY x.country, x.city, x.currency), '[]') FROM (
            SELECT l.country, l.city, c.currency_code AS currency, sum(m.orders) AS orders,
                   sum(m.units) AS units, sum(m.value)::text AS value
            FROM members m JOIN (SELECT location_id, country, city FROM dim_location OFFSET 0) l  -- hashed: see above
                 ON l.location_id = m.member_id JOIN dim_currency c USING (currency_id)
            WHERE m.breakdown = 'location' GROUP BY 1, 2, 3 HAVING sum(m.orders) > 0) x)
)
"""

CURRENT_COLUMNS = {
    "currency": "f.currency_id",
    "counterparty": "f.counterparty_id",
    "design": "f.design_id",
    "staff": "f.sales_staff_id",
}


@dataclass(frozen=True)
class MonthFigures:
    month: date
    orders: int
    units: int
    value: Money  # one entry per currency sold in that month


@dataclass(frozen=True)
class MemberFigures:
    """One design, counterparty, staff member, department or place, across currencies."""

    name: str
    orders: int
    units: int
    value: Money
    id: int | None = None
    group: str | None = None  # the staff member's department; the city's country


@dataclass(frozen=True)
class SalesPage:
    by_month: list[MonthFigures]
    by_currency: Money  # total value per currency
    designs: list[MemberFigures]  # top by units sold
    counterparties: list[MemberFigures]
    staff: list[MemberFigures]
    departments: list[MemberFigures]
    cities: list[MemberFigures]  # group = country
    from_summaries: bool  # False: computed from the fact versions (a filter finer than the summaries)

    @property
    def cells(self) -> list[tuple[date, Money]]:
        """The page's value per month and currency: what ``money.MonthlyRates`` converts."""
        return [(m.month, m.value) for m in self.by_month]

    @property
    def orders(self) -> int:
        return sum(m.orders for m in self.by_month)

    @property
    def units(self) -> int:
        return sum(m.units for m in self.by_month)

    @property
    def countries(self) -> list[MemberFigures]:
        by: dict[str, list[MemberFigures]] = {}
        for city in self.cities:
            by.setdefault(city.group or "", []).append(city)
        return [
            MemberFigures(
                country, sum(c.orders for c in cs), sum(c.units for c in cs), Money.total(c.value for c in cs)
            )
            for country, cs in sorted(by.items())
        ]


def sales_page(con: pg8000.native.Connection, filters: Filters, *, facts: bool = False) -> SalesPage:
    """Every figure of the Sales page for ``filters``, in one query.

    A department filter alone (no other member filter, all months) reads the department
    summaries, unless department changes wait for the fold; any other member filter, or a
    department over a date range, the current versions. ``facts`` reads the current versions
    (``analytics.sales_current``) even where the summaries could answer (tests hold the two
    against each other; the benchmark times both).
    """
    departments = filters.by_department_only and not facts and not _department_changes_queued(con)
    facts = facts or (filters.needs_facts and not departments)
    if departments:
        where = member_conditions(filters, {"currency": "currency_id"})
        where.add(
            "department_key = ANY(ARRAY(SELECT department_key FROM analytics.department"
            " WHERE department_name = ANY(CAST(:departments AS text[]))))",
            departments=list(filters.departments),
        )
        source = DEPARTMENT_SOURCE.format(where=where.sql)
        materialized = "MATERIALIZED"
    elif facts:
        where = member_conditions(filters, CURRENT_COLUMNS)
        month_conditions(filters, "f.month", where)
        source = CURRENT_SOURCE.format(where=where.sql)
        materialized = "MATERIALIZED"
    else:
        source, where = _summary_source(filters)
        materialized = "NOT MATERIALIZED"  # each use reads only its breakdown's rows
    sql = PAGE_SQL.format(materialized=materialized, source=source)
    doc = _json(con.run(sql, top=TOP, **where.params)[0][0])
    by_month = _by_month(doc["by_month"])
    return SalesPage(
        by_month=by_month,
        by_currency=Money.total(m.value for m in by_month),
        designs=_members(doc["designs"]),
        counterparties=_members(doc["counterparties"]),
        staff=_members(doc["staff"], group="department"),
        departments=_members(doc["departments"], key="name"),
        cities=_members(doc["locations"], key=("country", "city"), group="country"),
        from_summaries=not facts,
    )


def _department_changes_queued(con: pg8000.native.Connection) -> bool:
    """Whether a load changed staff members' departments since the last fold (migration 026:
    the fold moves their orders between the department summaries); until the fold has, the
    current versions, grouped under dim_staff's departments, answer a department filter."""
    return bool(con.run("SELECT EXISTS (SELECT 1 FROM analytics.department_change)")[0][0])


def _summary_source(filters: Filters) -> tuple[str, Conditions]:
    """The summaries' rows for ``filters`` (currency and months only): all-time member
    figures, or over a date range the difference of their running totals."""
    where = member_conditions(filters, {"currency": "currency_id"})
    months = month_conditions(filters, "period")
    figures = {"orders": "orders", "units": "units", "value": "value"}
    if filters.has_range:
        figures = {
            "orders": running_range(filters, "running_orders", months),
            "units": running_range(filters, "running_units", months),
            "value": running_range(filters, "running_cents", months) + " * 0.01",
        }
    source = SUMMARY_SOURCE.format(where=where.sql, months=months.sql, **figures)
    return source, Conditions(where.clauses + months.clauses, {**where.params, **months.params})


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _by_month(rows: list[dict[str, Any]]) -> list[MonthFigures]:
    months: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        months.setdefault(r["month"], []).append(r)
    return [
        MonthFigures(
            date.fromisoformat(m),
            sum(r["orders"] for r in rs),
            sum(r["units"] for r in rs),
            money_by_currency((r["currency"], r["value"]) for r in rs),
        )
        for m, rs in sorted(months.items())
    ]


def _members(
    rows: list[dict[str, Any]], key: str | tuple[str, ...] = "id", group: str | None = None
) -> list[MemberFigures]:
    """Rows per (member, currency) -> one MemberFigures per member, in the rows' order."""
    fields = (key,) if isinstance(key, str) else key
    order: list[Any] = []
    by: dict[Any, list[dict[str, Any]]] = {}
    for r in rows:
        k = tuple(r[f] for f in fields)
        if k not in by:
            order.append(k)
        by.setdefault(k, []).append(r)
    out = []
    for k in order:
        rs = by[k]
        out.append(
            MemberFigures(
                name=rs[0]["name"] if "name" in rs[0] else str(k[-1]),
                orders=sum(r["orders"] for r in rs),
                units=sum(r["units"] for r in rs),
                value=money_by_currency((r["currency"], r["value"]) for r in rs),
                id=rs[0].get("id"),
                group=rs[0].get(group) if group else None,
            )
        )
    return out
