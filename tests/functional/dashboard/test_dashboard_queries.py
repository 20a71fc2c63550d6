"""The app's query functions on real PostgreSQL, against figures worked out by hand from
``conftest``'s rows, through the read-only role, from the summaries and from the facts."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pg8000.exceptions
import pytest

from dashboard.filters import Filters
from dashboard.history import order_history
from dashboard.purchases import purchases_page
from dashboard.sales import sales_page

D = Decimal
JAN, FEB, MAR = date(2024, 1, 1), date(2024, 2, 1), date(2024, 3, 1)


def test_sales_figures_are_per_currency_and_use_current_versions(hand_warehouse, reader) -> None:
    page = sales_page(reader(), Filters())
    # Current versions: order 1 v2 (90 x 2.50 GBP), 2 (7 x 3.00 EUR), 3 (10 x 100.00 EUR), 4 (4 x 0.25 GBP);
    # order 1's first version and order 2's late, older copy are not current.
    assert page.from_summaries
    assert page.orders == 4
    assert page.units == 111
    assert page.by_currency.amounts == {"GBP": D("226.00"), "EUR": D("1021.00")}
    assert D("1247.00") not in page.by_currency.amounts.values()  # GBP + EUR added: meaningless
    assert [(m.month, m.orders, m.units, dict(m.value.amounts)) for m in page.by_month] == [
        (JAN, 2, 97, {"GBP": D("225.00"), "EUR": D("21.00")}),
        (FEB, 2, 14, {"GBP": D("1.00"), "EUR": D("1000.00")}),
    ]
    assert [(d.name, d.units, dict(d.value.amounts)) for d in page.designs] == [
        ("Wooden", 100, {"GBP": D("225.00"), "EUR": D("1000.00")}),
        ("Bronze", 11, {"EUR": D("21.00"), "GBP": D("1.00")}),
    ]
    assert [(c.name, c.orders, c.units) for c in page.counterparties] == [
        ("Fahey and Sons", 2, 100),
        ("Leannon Ltd", 2, 11),
    ]
    assert [(s.name, s.group, s.units) for s in page.staff] == [
        ("Jeremie Franey", "Sales", 101),
        ("Deron Beier", "Purchasing", 10),
    ]
    assert {d.name: (d.units, dict(d.value.amounts)) for d in page.departments} == {
        "Sales": (101, {"GBP": D("226.00"), "EUR": D("21.00")}),
        "Purchasing": (10, {"EUR": D("1000.00")}),
    }
    assert {(c.group, c.name): (c.orders, dict(c.value.amounts)) for c in page.cities} == {
        ("United Kingdom", "Leeds"): (2, {"GBP": D("226.00")}),
        ("France", "Paris"): (2, {"EUR": D("1021.00")}),
    }


@pytest.mark.parametrize(
    ("filters", "orders", "units", "value"),
    [
        (Filters(start=FEB, end=FEB), 2, 14, {"GBP": D("1.00"), "EUR": D("1000.00")}),
        (Filters(end=JAN), 2, 97, {"GBP": D("225.00"), "EUR": D("21.00")}),
        (Filters(currencies=(2,)), 2, 17, {"EUR": D("1021.00")}),
        (Filters(counterparties=(2,)), 2, 11, {"GBP": D("1.00"), "EUR": D("21.00")}),
        (Filters(designs=(1,)), 2, 100, {"GBP": D("225.00"), "EUR": D("1000.00")}),
        (Filters(staff=(2,)), 1, 10, {"EUR": D("1000.00")}),
        (Filters(departments=("Sales",), start=FEB), 1, 4, {"GBP": D("1.00")}),
    ],
)
def test_every_filter_applies_to_every_figure(hand_warehouse, reader, filters, orders, units, value) -> None:
    page = sales_page(reader(), filters)
    assert (page.orders, page.units, dict(page.by_currency.amounts)) == (orders, units, value)
    for chart in (page.designs, page.counterparties, page.staff, page.departments, page.cities):
        assert sum(m.units for m in chart) == units  # each chart shows exactly the filtered orders


RANGES = [{}, {"start": JAN}, {"end": JAN}, {"start": FEB, "end": FEB}, {"start": MAR}, {"end": date(2023, 12, 1)}]


def _assert_summaries_equal_facts(con: pg8000.native.Connection, months: dict[str, date]) -> None:
    for currencies in ((), (2,)):
        summary = sales_page(con, Filters(currencies=currencies, **months))
        facts = sales_page(con, Filters(currencies=currencies, **months), facts=True)
        assert summary.from_summaries
        assert not facts.from_summaries
        assert facts.by_month == summary.by_month
        assert facts.designs == summary.designs
        assert facts.counterparties == summary.counterparties
        assert facts.staff == summary.staff
        assert facts.departments == summary.departments
        assert facts.cities == summary.cities
        for department in ("Sales", "Purchasing"):  # the department summaries (migration 014)
            by_department = Filters(currencies=currencies, departments=(department,), **months)
            from_current = sales_page(con, by_department, facts=True)
            assert sales_page(con, by_department) == replace(
                from_current, from_summaries=by_department.by_department_only
            )
        p_summary = purchases_page(con, Filters(currencies=currencies, **months))
        p_facts = purchases_page(con, Filters(currencies=currencies, **months), facts=True)
        assert p_summary.from_summaries
        assert not p_facts.from_summaries
        assert p_facts.purchases_by_month == p_summary.purchases_by_month
        assert p_facts.payments_by_month == p_summary.payments_by_month
        assert sorted(p_facts.by_type, key=str) == sorted(p_summary.by_type, key=str)
        assert p_facts.outstanding == p_summary.outstanding


@pytest.mark.parametrize("months", RANGES, ids=["all time", "from Jan", "to Jan", "Feb", "from Mar", "before"])
def test_summaries_and_facts_give_the_same_page(hand_warehouse, reader, months) -> None:
    """The summary path (also over a date range, from the running totals kept across two
    folds) against the fact path on the same data."""
    _assert_summaries_equal_facts(reader(), months)


DEC = date(2023, 12, 1)
# Fold 3: order 3 fixed in place (units 10 -> 12, last_updated kept: SPEC §2, the tie goes to
# the later surrogate key); payment 3 fixed in place (7.00 -> 8.00 GBP, still unpaid).
FIX_IN_PLACE_SQL = """
INSERT INTO fact_sales_order SELECT 7, sales_order_id, created_date, created_time, last_updated_date,
    last_updated_time, sales_staff_id, counterparty_id, 12, unit_price, currency_id, design_id, agreed_payment_date,
    agreed_delivery_date, agreed_delivery_location_id, false FROM fact_sales_order WHERE sales_record_id = 3;
INSERT INTO fact_payment SELECT 5, payment_id, created_date, created_time, last_updated_date, last_updated_time,
    transaction_id, counterparty_id, 8.00, currency_id, payment_type_id, paid, payment_date, false
    FROM fact_payment WHERE payment_record_id = 4;
"""
# Fold 4: order 2 deleted (a deletion version); order 5 and unpaid payment 4 in December 2023,
# a month before every month the running totals list so far.
DELETE_AND_EARLIER_MONTH_SQL = """
INSERT INTO dim_date (date_id, year, month, day, day_of_week, day_name, month_name, quarter)
SELECT d::date, extract(year FROM d), extract(month FROM d), extract(day FROM d), extract(isodow FROM d),
       trim(to_char(d, 'Day')), trim(to_char(d, 'Month')), extract(quarter FROM d)
FROM generate_series('2023-12-01'::date, '2023-12-31'::date, interval '1 day') AS d;
INSERT INTO fact_sales_order SELECT 8, sales_order_id, created_date, created_time, '2024-03-01', '00:00',
    sales_staff_id, counterparty_id, units_sold, unit_price, currency_id, design_id, agreed_payment_date,
    agreed_delivery_date, agreed_delivery_location_id, true FROM fact_sales_order WHERE sales_record_id = 2;
INSERT INTO fact_sales_order VALUES (9, 5, '2023-12-20', '10:00', '2023-12-20', '10:00', 2, 2, 3, 2.00, 1, 2,
    '2024-01-10', '2024-01-05', 2, false);
INSERT INTO fact_payment VALUES (6, 4, '2023-12-01', '09:00', '2023-12-01', '09:00', 1, 1, 5.00, 1, 1, false,
    '2023-12-20', false);
"""


def test_summaries_stay_equal_to_the_facts_after_fixes_in_place_deletions_and_earlier_months(
    hand_warehouse, reader, fold
) -> None:
    """Each fold merges a run's running totals per month into the stored ones: a version that
    replaces another with the same last_updated, a deletion version, and a month before
    every month listed so far must all leave the summaries equal to the facts, over every range."""
    hand_warehouse.admin.execute_simple(FIX_IN_PLACE_SQL)
    fold()
    february = sales_page(reader(), Filters(start=FEB, end=FEB))
    assert (february.orders, february.units) == (2, 16)  # order 3 now 12 units, order 4 4 units
    hand_warehouse.admin.execute_simple(DELETE_AND_EARLIER_MONTH_SQL)
    fold()
    con = reader()
    page = sales_page(con, Filters())
    # Current, live: order 1 (90 x 2.50 GBP), 3 (12 x 100.00 EUR), 4 (4 x 0.25 GBP), 5 (3 x 2.00 GBP).
    assert (page.orders, page.units, page.by_currency.amounts) == (4, 109, {"GBP": D("232.00"), "EUR": D("1200.00")})
    december = sales_page(con, Filters(start=DEC, end=DEC))
    assert (december.orders, december.units, december.by_currency.amounts) == (1, 3, {"GBP": D("6.00")})
    assert [(c.name, c.orders) for c in sales_page(con, Filters(end=JAN)).counterparties] == [
        ("Fahey and Sons", 1),  # order 1
        # Leannon: order 5 (December); its order 2 is deleted
        ("Leannon Ltd", 1),
    ]
    outstanding = purchases_page(con, Filters()).outstanding
    assert [(o.name, o.payments, dict(o.amount.amounts)) for o in outstanding] == [
        ("Fahey and Sons", 2, {"GBP": D("13.00")})  # payment 3 as fixed (8.00) and payment 4 (5.00)
    ]
    for months in (*RANGES, {"start": DEC, "end": DEC}, {"end": DEC}, {"start": DEC, "end": JAN}):
        _assert_summaries_equal_facts(con, months)


def test_pages_stop_where_the_summaries_stop_until_the_fold(hand_warehouse, reader, fold) -> None:
    """A big run's facts commit before its summaries' fold (load.summaries): until the fold,
    every page, from the summaries or from the current versions, shows the figures of the run before
    (never the summaries of one run with the facts of the next); the history shows the new
    versions at once (it reads nothing folded). After the fold both paths move together."""
    hand_warehouse.admin.execute_simple(FIX_IN_PLACE_SQL)  # committed, not folded
    con = reader()
    for months in RANGES:
        _assert_summaries_equal_facts(con, months)
    assert sales_page(con, Filters(counterparties=(1,))).units == 100  # orders 1 (90) and 3 (10), as folded
    assert [(v.record_id, v.is_current) for v in order_history(con, 3).versions] == [(3, False), (7, True)]
    fold()
    assert sales_page(con, Filters(counterparties=(1,))).units == 102  # order 3 now 12
    for months in RANGES:
        _assert_summaries_equal_facts(con, months)


CURRENT_TABLES = {
    "sales_current": ("sales_record_id", "fact_sales_order"),
    "purchase_current": ("purchase_record_id", "fact_purchase_order"),
    "payment_current": ("payment_record_id", "fact_payment"),
}


def _current_ids(con: pg8000.native.Connection) -> dict[str, list[int]]:
    """Each current-versions table's record ids, and the same worked out from the facts by
    migration 009's views (DISTINCT ON the source id, SPEC §2's order, deletions left out)."""
    out = {}
    for table, (id_col, fact) in CURRENT_TABLES.items():
        out[table] = [r[0] for r in con.run(f"SELECT {id_col} FROM analytics.{table} ORDER BY 1")]
        out[fact] = [r[0] for r in con.run(f"SELECT {id_col} FROM pipeline.{fact}_current ORDER BY 1")]
    return out


def test_member_filters_read_the_current_versions_after_fixes_in_place_and_deletions(
    hand_warehouse, reader, fold
) -> None:
    """analytics.sales_current / purchase_current / payment_current (migration 012), kept by
    each fold: a version fixed in place with the same last_updated replaces the stored one, a
    deletion version takes its order out, a late older copy never comes in; the member filters
    read them, money per currency."""
    wh = hand_warehouse
    ids = _current_ids(wh.admin)
    # Runs 1-2: order 1 v2 (4), order 2 (2; its late copy 5 is older), 3, 4 (6); payment 2 v2 (3), 3 (4).
    assert ids == {
        "sales_current": [2, 3, 4, 6], "fact_sales_order": [2, 3, 4, 6],
        "purchase_current": [1], "fact_purchase_order": [1],
        "payment_current": [1, 3, 4], "fact_payment": [1, 3, 4],
    }  # fmt: skip
    wh.admin.execute_simple(FIX_IN_PLACE_SQL)
    fold()
    wh.admin.execute_simple(DELETE_AND_EARLIER_MONTH_SQL)
    fold()
    ids = _current_ids(wh.admin)
    # Order 3 fixed in place (7), order 2 deleted (8, a deletion version: no row), order 5 (9);
    # payment 3 fixed in place (5), payment 4 (6).
    assert ids == {
        "sales_current": [4, 6, 7, 9], "fact_sales_order": [4, 6, 7, 9],
        "purchase_current": [1], "fact_purchase_order": [1],
        "payment_current": [1, 3, 5, 6], "fact_payment": [1, 3, 5, 6],
    }  # fmt: skip
    con = reader()
    fahey = sales_page(con, Filters(counterparties=(1,)))
    assert not fahey.from_summaries
    # Order 1 (90 x 2.50 GBP) and order 3 as fixed (12 x 100.00 EUR): two currencies, never added.
    assert (fahey.orders, fahey.units, fahey.by_currency.amounts) == (2, 102, {"GBP": D("225.00"), "EUR": D("1200.00")})
    assert D("1425.00") not in fahey.by_currency.amounts.values()
    assert [(c.name, c.units) for c in fahey.counterparties] == [("Fahey and Sons", 102)]
    # Purchasing = Deron Beier: order 3 (EUR) and order 5 (3 x 2.00 GBP, December 2023).
    purchasing = sales_page(con, Filters(departments=("Purchasing",)))
    assert (purchasing.orders, purchasing.units) == (2, 15)
    assert purchasing.by_currency.amounts == {"EUR": D("1200.00"), "GBP": D("6.00")}
    assert [(m.month, m.units) for m in purchasing.by_month] == [(DEC, 3), (FEB, 12)]
    # Leannon (counterparty 2): order 2 deleted, order 4 (1.00 GBP), order 5 (6.00 GBP); a design over a range.
    leannon = sales_page(con, Filters(counterparties=(2,), end=JAN))
    assert (leannon.orders, leannon.units, leannon.by_currency.amounts) == (1, 3, {"GBP": D("6.00")})
    bronze = sales_page(con, Filters(designs=(2,), start=FEB))
    assert (bronze.orders, bronze.units, bronze.by_currency.amounts) == (1, 4, {"GBP": D("1.00")})
    outstanding = purchases_page(con, Filters(counterparties=(1,))).outstanding
    assert not purchases_page(con, Filters(counterparties=(1,))).from_summaries
    assert [(o.name, o.payments, dict(o.amount.amounts)) for o in outstanding] == [
        ("Fahey and Sons", 2, {"GBP": D("13.00")})  # payment 3 as fixed (8.00) and payment 4 (5.00)
    ]
    # What migration 012 does for a warehouse that has facts: refill each table from the facts.
    wh.admin.run(
        "SELECT analytics.rebuild_current(fact_table, last_record_id) FROM analytics.summary_state"
        " WHERE fact_table <> 'fact_purchase_order'"
    )
    assert _current_ids(wh.admin) == ids


def test_a_department_change_moves_the_figures_before_and_after_the_fold(hand_warehouse, reader) -> None:
    """Departments are a type-1 attribute of dim_staff: a staff member moving department
    (the load upserts the dimension, no fact changes) moves their orders in every path at
    once. The UPDATE only queues the change for the fold (migration 026): until the fold, a
    department filter reads the current versions under dim_staff's departments; after it, the
    department summaries, which the fold has regrouped."""
    hand_warehouse.admin.run("UPDATE dim_staff SET department_name = 'Purchasing' WHERE staff_id = 1")
    con = reader()
    for folded in (False, True):
        if folded:
            hand_warehouse.admin.run("SELECT analytics.refresh_summaries()")
        for months in ({}, {"start": FEB, "end": FEB}):
            for facts in (False, True):
                page = sales_page(con, Filters(**months), facts=facts)
                assert [d.name for d in page.departments] == ["Purchasing"]
                assert page.departments[0].units == page.units
            everything = sales_page(con, Filters(**months))
            purchasing = sales_page(con, Filters(departments=("Purchasing",), **months))
            assert (purchasing.orders, purchasing.units) == (everything.orders, everything.units)
            assert purchasing.from_summaries == (folded and not months)
            assert sales_page(con, Filters(departments=("Sales",), **months)).orders == 0


def test_a_department_renamed_is_found_by_its_new_name(hand_warehouse, reader) -> None:
    """A rename changes only the department's name in analytics.department (migration 021,
    by the fold since 026): the filter finds the department's summary rows through the new
    name, in the statement's snapshot, and the old name finds nothing; before the fold it finds
    the same figures in the current versions."""
    con = reader()
    sales = sales_page(con, Filters(departments=("Sales",)))
    assert sales.from_summaries
    assert sales.orders > 0
    hand_warehouse.admin.run("UPDATE dim_staff SET department_name = 'Retail' WHERE department_name = 'Sales'")
    queued = sales_page(con, Filters(departments=("Retail",)))  # migration 026: the fold renames it
    assert not queued.from_summaries
    hand_warehouse.admin.run("SELECT analytics.refresh_summaries()")
    retail = sales_page(con, Filters(departments=("Retail",)))
    assert retail.from_summaries
    assert retail == replace(queued, from_summaries=True)
    assert retail == replace(sales_page(con, Filters(departments=("Retail",)), facts=True), from_summaries=True)
    assert (retail.orders, retail.units, retail.by_currency, retail.by_month) == (
        sales.orders,
        sales.units,
        sales.by_currency,
        sales.by_month,
    )
    assert [d.name for d in retail.departments] == ["Retail"]
    assert sales_page(con, Filters(departments=("Sales",))).orders == 0


def test_a_department_over_a_date_range_finds_its_months_in_the_index(hand_warehouse, reader) -> None:
    """The plan, not a time: a department's staff and the range's months are both conditions
    on sales_current's staff index (migration 017), so a range reads only its own months; and
    the department is one array of staff ids, not a join over the whole table (dashboard/filters.py).
    Sequential scans are off so the four-row table is read through an index, as at scale."""
    con = reader()
    con.run("SET enable_seqscan = off")
    run, plans = con.run, []

    def explain(sql: str, **params):
        if sql.lstrip().startswith("WITH"):
            plans.append("\n".join(r[0] for r in run("EXPLAIN (COSTS OFF) " + sql, **params)))
        return run(sql, **params)

    con.run = explain
    page = sales_page(con, Filters(departments=("Sales",), start=FEB, end=FEB))
    assert (page.orders, page.units) == (1, 4)
    [plan] = plans
    conditions = [line.strip() for line in plan.splitlines() if "Index Cond" in line and "sales_staff_id" in line]
    assert conditions, plan
    assert all("month >=" in c and "month <=" in c for c in conditions), plan
    assert "Semi Join" not in plan, plan


def test_purchases_and_payments(hand_warehouse, reader) -> None:
    page = purchases_page(reader(), Filters())
    assert [(m.month, m.count, dict(m.value.amounts)) for m in page.purchases_by_month] == [
        (JAN, 1, {"EUR": D("50.00")})
    ]
    # Payment 2 is current as paid (its unpaid first version is superseded); payment 3 is unpaid.
    assert {(g.type, g.paid): (g.payments, dict(g.amount.amounts)) for g in page.by_type} == {
        ("SALES_RECEIPT", True): (1, {"GBP": D("250.00")}),
        ("PURCHASE_PAYMENT", True): (1, {"EUR": D("50.00")}),
        ("SALES_RECEIPT", False): (1, {"GBP": D("7.00")}),
    }
    assert [(o.name, o.payments, dict(o.amount.amounts)) for o in page.outstanding] == [
        ("Fahey and Sons", 1, {"GBP": D("7.00")})
    ]
    paid = page.paid_vs_unpaid()
    assert paid[True][0] == 2
    assert paid[True][1].amounts == {"GBP": D("250.00"), "EUR": D("50.00")}
    march = purchases_page(reader(), Filters(start=MAR, end=MAR))
    assert march.purchases_by_month == []
    assert [o.name for o in march.outstanding] == ["Fahey and Sons"]
    by_facts = purchases_page(reader(), Filters(counterparties=(1, 2)))
    assert by_facts.by_type
    assert sorted(by_facts.by_type, key=str) == sorted(page.by_type, key=str)
    assert by_facts.outstanding == page.outstanding


def test_order_history_shows_every_version_and_what_changed(hand_warehouse, reader) -> None:
    history = order_history(reader(), 1)
    assert [v.record_id for v in history.versions] == [1, 4]
    assert [v.is_current for v in history.versions] == [False, True]
    assert history.versions[1].changes == {"units_sold": (100, 90)}
    assert history.versions[1].describe() == "units_sold: 100 → 90"
    assert history.deletion_tracked  # migration 005 (issue 14) gave the facts is_deleted
    assert not history.deleted
    late = order_history(reader(), 2)  # the late, older copy sorts first and is not current
    assert [(v.record_id, v.is_current) for v in late.versions] == [(5, False), (2, True)]
    assert order_history(reader(), 999).versions == []


def test_deletion_versions_count_for_nothing_and_show_in_history(hand_warehouse, reader, fold) -> None:
    """Issue 14's is_deleted column (migration 005): a deletion version of order 4 takes it
    out of every figure, over a date range too, and shows in its history."""
    wh = hand_warehouse
    wh.admin.run(
        "INSERT INTO fact_sales_order SELECT 7, sales_order_id, created_date, created_time, '2024-03-01', '00:00',"
        " sales_staff_id, counterparty_id, units_sold, unit_price, currency_id, design_id, agreed_payment_date,"
        " agreed_delivery_date, agreed_delivery_location_id, true FROM fact_sales_order WHERE sales_record_id = 6"
    )
    fold()
    page = sales_page(reader(), Filters())
    assert (page.orders, page.units, page.by_currency.amounts) == (3, 107, {"GBP": D("225.00"), "EUR": D("1021.00")})
    assert sales_page(reader(), Filters(counterparties=(2,))).orders == 1  # the fact path agrees
    february = sales_page(reader(), Filters(start=FEB, end=FEB))  # the running totals per month
    assert (february.orders, [d.units for d in february.designs]) == (1, [10])
    history = order_history(reader(), 4)
    assert history.deletion_tracked
    assert history.deleted
    assert [v.describe() for v in history.versions] == ["first version", "deleted"]


def test_the_app_role_reads_and_cannot_write(hand_warehouse, reader) -> None:
    con = reader()
    assert con.run("SELECT count(*) FROM analytics.load_runs")[0][0] == 0
    for sql in (
        "INSERT INTO dim_currency VALUES (9, 'JPY', 'Yen')",
        "DELETE FROM analytics.sales_summary",
        "SELECT count(*) FROM pipeline.load_ledger",
        "SELECT analytics.refresh_summaries()",
        "SELECT analytics.rebuild_current('fact_sales_order', 0)",
        "DELETE FROM analytics.sales_current",
    ):
        with pytest.raises(pg8000.exceptions.DatabaseError, match="permission denied"):
            con.run(sql)


def test_a_truncated_fact_empties_its_summaries(hand_warehouse, reader, fold, load_run) -> None:
    """`totes replay` truncates the star tables (keys restart): the summaries start over too."""
    hand_warehouse.admin.run("TRUNCATE fact_sales_order, fact_purchase_order, fact_payment RESTART IDENTITY")
    fold()
    assert sales_page(reader(), Filters()).orders == 0
    assert all(ids == [] for ids in _current_ids(hand_warehouse.admin).values())
    load_run(1)
    assert sales_page(reader(), Filters()).units == 117  # 100 + 7 + 10, folded from zero
    assert sales_page(reader(), Filters(staff=(1,))).units == 107  # the current versions too
