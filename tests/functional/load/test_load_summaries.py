"""The analytics summaries' fold (load.summaries, migration 011): a bulk rebuild gives exactly
what run-by-run incremental folds give; run_load leaves the summaries trailing the facts and
fold_pending folds everything pending, also after several loads and after a fold that failed
half way; a failed fold never takes the facts back. Real PostgreSQL and moto."""

from __future__ import annotations

import datetime as dt
import json
import random
import shutil
import threading
import time
from collections import deque
from decimal import Decimal
from pathlib import Path
from typing import Any

import pg8000.exceptions
import pytest

from dashboard.health import data_loaded, figures_run
from load.errors import SummaryFoldError
from load.run import run_load
from load.schema import discover, migrate
from load.summaries import FoldPolicy, FoldResult, fold_pending

INCREMENTAL = FoldPolicy(rebuild_at=float("inf"))  # always merged into the stored summaries
REBUILD = FoldPolicy(rebuild_at=0)  # always rebuilt from zero

T1 = dt.datetime(2024, 1, 2, 10, 0)
T2 = dt.datetime(2024, 3, 5, 8, 0)
FEB = dt.datetime(2024, 2, 10, 9, 0)
OBSERVED = "2024-06-01T12:00:00.250"

SNAPSHOT = {
    "sales_summary": "SELECT * FROM analytics.sales_summary ORDER BY breakdown, period, currency_id, member_id",
    "purchase_summary": "SELECT * FROM analytics.purchase_summary ORDER BY breakdown, period, currency_id, member_id",
    "payment_summary": "SELECT * FROM analytics.payment_summary"
    " ORDER BY breakdown, period, currency_id, payment_type_id, paid, member_id",
    "sales_order_superseded": "SELECT * FROM analytics.sales_order_superseded ORDER BY 1",
    "purchase_order_superseded": "SELECT * FROM analytics.purchase_order_superseded ORDER BY 1",
    "payment_superseded": "SELECT * FROM analytics.payment_superseded ORDER BY 1",
    # migration 012: the current-versions tables the member filters read
    "sales_current": "SELECT * FROM analytics.sales_current ORDER BY 1",
    "purchase_current": "SELECT * FROM analytics.purchase_current ORDER BY 1",
    "payment_current": "SELECT * FROM analytics.payment_current ORDER BY 1",
    # migration 014
    "department_summary": "SELECT * FROM analytics.department_summary ORDER BY 1, 2, 3, 4, 5",
}
FACTS = ("fact_sales_order", "fact_purchase_order", "fact_payment")


def snapshot(admin: Any) -> dict[str, list[list[Any]]]:
    return {name: admin.run(sql) for name, sql in SNAPSHOT.items()}


def rebuilt_from_zero(admin: Any) -> dict[str, list[list[Any]]]:
    """The summaries of every fact folded again in one set-based pass (the bulk build), in a
    transaction rolled back afterwards, so the warehouse keeps what the load made."""
    admin.run("BEGIN")
    try:
        clear_all(admin)
        admin.run("SELECT analytics.refresh_summaries()")
        return snapshot(admin)
    finally:
        admin.run("ROLLBACK")


def stamp(admin: Any) -> int | None:
    return admin.run("SELECT min(run_seq) FROM analytics.summary_state")[0][0]


def commit_run(runs: Any, make: Any, seq: int) -> None:
    """Runs 1-3: versions of one order within a run, a fix in place with an equal
    last_updated (SPEC §2: the later load is current), a late older version, several months,
    a deletion version, a payment becoming paid."""
    sales, purchase, payment = make.sales_order, make.purchase_order, make.payment
    if seq == 1:
        dims = make.base_dimensions()
        dims["dim_currency"].append(make.currency(2, "EUR", "Euro"))
        dims["dim_design"].append(make.design(2, "Bronze"))
        runs.commit(
            1,
            {
                **dims,
                "fact_sales_order": [
                    sales(1),
                    sales(1, updated=T1, units_sold=7),  # two versions in one run
                    sales(2, unit_price=Decimal("3.10"), currency_id=2),
                    sales(3, created_date=FEB.date(), updated=FEB, design_id=2),
                ],
                "fact_purchase_order": [purchase(1), purchase(2, currency_id=2)],
                "fact_payment": [payment(1), payment(2, paid=True, currency_id=2)],
            },
        )
    elif seq == 2:
        runs.commit(
            2,
            {
                "fact_sales_order": [
                    sales(1, updated=T1, units_sold=9),  # fixed in place: same last_updated, later load
                    sales(2, updated=dt.datetime(2023, 12, 1)),  # older than the stored version: never current
                    sales(4, created_date=T2.date(), updated=T2, units_sold=3),
                ],
                "fact_purchase_order": [purchase(1, updated=T1, item_quantity=8)],
                "fact_payment": [payment(1, updated=T1, paid=True)],
            },
        )
    else:
        runs.commit(3, deletions={"fact_sales_order": {"observed_at": OBSERVED, "ids": [3]}})


def load_and_fold(processed: Any, con: Any, policy: FoldPolicy = INCREMENTAL) -> FoldResult:
    """What the pipeline does: run_load, then the fold action (load.handler)."""
    run_load(processed, con)
    return fold_pending(con, policy)


def clear_all(admin: Any) -> None:
    for fact in FACTS:
        admin.run("SELECT analytics.clear_summaries(:f)", f=fact)


def test_a_bulk_rebuild_gives_what_incremental_folds_give(
    pipeline: Any, processed: Any, runs: Any, make: Any, loader_con: Any
) -> None:
    admin = pipeline.warehouse.admin
    for seq in (1, 2, 3):  # one load and one fold per run: each run folded by itself
        commit_run(runs, make, seq)
        assert load_and_fold(processed, loader_con).folded_through == seq
        assert stamp(admin) == seq
    incremental = snapshot(admin)
    superseded = [r[0] for r in incremental["sales_order_superseded"]]
    # order 1's first two versions (the fix in place replaced the second), order 2's late copy, order 3's live version
    assert len(superseded) == 4
    assert rebuilt_from_zero(admin) == incremental
    # and the same when the rebuild is what the fold chose
    clear_all(admin)
    admin.run("UPDATE analytics.summary_state SET run_seq = NULL")
    assert run_load(processed, loader_con).runs == ()  # nothing pending, and the load does not fold
    assert stamp(admin) is None
    folded = fold_pending(loader_con, REBUILD)
    assert (folded.lock_acquired, folded.summaries_run, folded.folded_through) == (True, None, 3)
    assert stamp(admin) == 3
    assert snapshot(admin) == incremental


@pytest.mark.parametrize("policy", [INCREMENTAL, REBUILD], ids=["incremental", "rebuild"])
def test_every_policy_gives_the_summaries_of_the_current_versions(
    pipeline: Any, processed: Any, runs: Any, make: Any, loader_con: Any, policy: FoldPolicy
) -> None:
    """Run by run with each policy: hand-computed figures of the current, live versions."""
    admin = pipeline.warehouse.admin
    for seq in (1, 2, 3):
        commit_run(runs, make, seq)
        load_and_fold(processed, loader_con, policy)
    totals = admin.run(
        "SELECT currency_id, orders, units, value FROM analytics.sales_summary"
        " WHERE breakdown = 'total' AND period = '-infinity' ORDER BY currency_id"
    )
    # GBP: order 1 as fixed (9 x 2.50), order 4 (3 x 2.50); order 3 deleted. EUR: order 2 (10 x 3.10)
    assert totals == [[1, 2, 12, Decimal("30.00")], [2, 1, 10, Decimal("31.00")]]
    unpaid = admin.run("SELECT count(*) FROM analytics.payment_summary WHERE breakdown = 'unpaid' AND payments <> 0")
    assert unpaid == [[0]]  # payment 1 was paid in run 2; payment 2 was always paid
    # The member filters' tables (migration 012) hold what 009's views find in the facts.
    for table, fact, key in (
        ("sales_current", "fact_sales_order", "sales_record_id"),
        ("purchase_current", "fact_purchase_order", "purchase_record_id"),
        ("payment_current", "fact_payment", "payment_record_id"),
    ):
        kept = admin.run(f"SELECT {key} FROM analytics.{table} ORDER BY 1")
        assert kept == admin.run(f"SELECT {key} FROM pipeline.{fact}_current ORDER BY 1"), table
    assert rebuilt_from_zero(admin) == snapshot(admin)


def test_merged_running_totals_at_months_before_between_and_after_the_stored_ones(
    pipeline: Any, processed: Any, runs: Any, make: Any, loader_con: Any
) -> None:
    """The merge of a member's stored running arrays with a run's (023: one sub-select per row):
    a run adding months before, between and after the stored ones, and one taking a month's
    only order back out, leaves every summary equal to a fold from zero."""
    admin = pipeline.warehouse.admin
    sales, payment = make.sales_order, make.payment

    def month(m: int) -> dict[str, Any]:
        day = dt.date(2024, m, 15)
        return {"created_date": day, "updated": dt.datetime(2024, m, 15, 9, 0)}

    runs.commit(
        1,
        {
            **make.base_dimensions(),
            "fact_sales_order": [sales(1, **month(3)), sales(2, **month(5), units_sold=4)],
            "fact_payment": [
                payment(1, payment_date=dt.date(2024, 3, 2)),
                payment(2, payment_date=dt.date(2024, 5, 2)),
            ],
        },
    )
    load_and_fold(processed, loader_con)
    runs.commit(
        2,
        {
            "fact_sales_order": [
                sales(3, **month(1)),  # before the stored months
                sales(4, **month(4), units_sold=2),  # between
                sales(5, **month(6)),  # after
                sales(2, created_date=dt.date(2024, 5, 15), updated=dt.datetime(2024, 7, 1), units_sold=6),
            ],
            "fact_payment": [
                payment(3, payment_date=dt.date(2024, 1, 2)),
                payment(4, payment_date=dt.date(2024, 6, 2)),
                payment(1, updated=dt.datetime(2024, 7, 1), paid=True),  # March's only unpaid payment leaves
            ],
        },
    )
    load_and_fold(processed, loader_con)
    design = admin.run(
        "SELECT running_months, running_orders, running_units FROM analytics.sales_summary"
        " WHERE breakdown = 'design' AND member_id = 1"
    )
    months = [dt.date(2024, m, 1) for m in (1, 3, 4, 5, 6)]
    assert design == [[months, [1, 2, 3, 4, 5], [10, 20, 22, 28, 38]]]
    unpaid = admin.run(
        "SELECT running_months, running_payments FROM analytics.payment_summary WHERE breakdown = 'unpaid'"
    )
    assert unpaid == [[[dt.date(2024, m, 1) for m in (1, 3, 5, 6)], [1, 1, 2, 3]]]
    assert rebuilt_from_zero(admin) == snapshot(admin)


def test_run_load_leaves_the_summaries_trailing_and_the_app_says_so(
    pipeline: Any, processed: Any, runs: Any, make: Any, loader_con: Any
) -> None:
    """run_load commits facts only; the summaries, their stamp and what the app reads stay at
    the run before until a fold; then one fold folds every run pending, from several loads."""
    admin = pipeline.warehouse.admin
    commit_run(runs, make, 1)
    load_and_fold(processed, loader_con)
    folded_1 = snapshot(admin)
    for seq in (2, 3):  # two loads, no fold between
        commit_run(runs, make, seq)
        assert [r.run_seq for r in run_load(processed, loader_con).runs] == [seq]
        assert admin.run("SELECT max(run_seq) FROM pipeline.load_ledger") == [[seq]]  # the facts are in
        assert stamp(admin) == 1
        assert snapshot(admin) == folded_1  # the summaries are not
        # the app's header: "data loaded ... (run N) · figures include run 1 only: summaries catching up"
        assert (data_loaded(admin).run_seq, figures_run(admin)) == (seq, 1)
    folded = fold_pending(loader_con, INCREMENTAL)
    assert (folded.summaries_run, folded.folded_through) == (1, 3)
    assert (data_loaded(admin).run_seq, figures_run(admin)) == (3, 3)
    assert rebuilt_from_zero(admin) == snapshot(admin) != folded_1
    again = fold_pending(loader_con, INCREMENTAL)  # nothing pending: a no-op
    assert (again.lock_acquired, again.summaries_run, again.folded_through) == (True, 3, None)


def test_a_fold_waits_for_the_load_lock_and_leaves_the_work_to_its_holder(
    pipeline: Any, processed: Any, runs: Any, make: Any, loader_con: Any
) -> None:
    """One loader or fold at a time: a fold that cannot get the load lock folds nothing."""
    admin = pipeline.warehouse.admin
    commit_run(runs, make, 1)
    run_load(processed, loader_con)
    admin.run("SELECT pg_advisory_lock(7130005)")  # load.lock.LOAD_LOCK_KEY, held by another session
    try:
        assert fold_pending(loader_con, lock_wait_seconds=0.2) == FoldResult(False, None)
    finally:
        admin.run("SELECT pg_advisory_unlock(7130005)")
    assert stamp(admin) is None
    assert fold_pending(loader_con).folded_through == 1


def _fail_the_fold_half_way(admin: Any, fold_pid: int, how: str, seen: dict[str, Any]) -> None:
    """In another thread: once the fold waits for sales_summary (locked by the test) after
    folding payments, cancel its statement or kill its connection."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        waiting = admin.run(
            "SELECT count(*) FROM pg_locks WHERE pid = :p AND NOT granted"
            " AND relation = 'analytics.sales_summary'::regclass",
            p=fold_pid,
        )[0][0]
        if waiting:
            seen["held"] = [
                r[0]
                for r in admin.run(
                    "SELECT relation::regclass::text FROM pg_locks WHERE pid = :p AND granted"
                    " AND mode = 'RowExclusiveLock' AND relation IS NOT NULL ORDER BY 1",
                    p=fold_pid,
                )
            ]
            admin.run(f"SELECT pg_{how}_backend(:p)", p=fold_pid)
            return
        time.sleep(0.05)
    seen["held"] = "the fold never waited for analytics.sales_summary"


@pytest.mark.parametrize("how", ["cancel", "terminate"])
def test_a_fold_that_fails_half_way_rolls_back_and_the_next_completes_it(
    pipeline: Any, processed: Any, runs: Any, make: Any, loader_con: Any, how: str
) -> None:
    """The fold (payments, purchases, then sales) fails while it waits for a sales table: its
    transaction rolls back (the payments it folded too), the facts stay loaded, and the next
    fold folds every pending run. A failed fold raises (the fold action fails and is retried)."""
    admin = pipeline.warehouse.admin
    commit_run(runs, make, 1)
    load_and_fold(processed, loader_con)
    commit_run(runs, make, 2)
    run_load(processed, loader_con)
    folded_1, facts = snapshot(admin), admin.run("SELECT count(*) FROM fact_sales_order")
    locker = pipeline.warehouse.connect()
    seen: dict[str, Any] = {}
    try:
        locker.run("BEGIN")
        locker.run("LOCK TABLE analytics.sales_summary IN ACCESS EXCLUSIVE MODE")
        pid = loader_con.run("SELECT pg_backend_pid()")[0][0]
        watcher = threading.Thread(target=_fail_the_fold_half_way, args=(admin, pid, how, seen))
        watcher.start()
        try:
            with pytest.raises(SummaryFoldError, match="rolled back"):
                fold_pending(loader_con, INCREMENTAL)
        finally:
            watcher.join()
            locker.run("ROLLBACK")
    finally:
        locker.close()
    # it had folded payments and purchases when it failed
    assert {"analytics.payment_summary", "analytics.purchase_summary"} <= set(seen["held"]), seen["held"]
    assert stamp(admin) == 1
    assert snapshot(admin) == folded_1  # nothing of the half fold is left
    assert admin.run("SELECT count(*) FROM fact_sales_order") == facts  # the facts stay
    assert admin.run("SELECT max(run_seq) FROM pipeline.load_ledger") == [[2]]
    con = pipeline.warehouse.connect() if how == "terminate" else loader_con
    try:
        assert fold_pending(con, INCREMENTAL).folded_through == 2
        commit_run(runs, make, 3)
        assert load_and_fold(processed, con).folded_through == 3  # and the pipeline goes on
    finally:
        if con is not loader_con:
            con.close()
    assert rebuilt_from_zero(admin) == snapshot(admin)


def test_a_failing_fold_never_rolls_back_a_run(
    pipeline: Any, processed: Any, runs: Any, make: Any, loader_con: Any
) -> None:
    """An analytics bug (here a payment cell the summaries refuse) stops the summaries, not the
    facts: every run loads and commits, the fold fails each time, and once fixed it folds them
    all. (Before the fold left run_load, such a failure rolled back the run in which it folded.)"""
    admin = pipeline.warehouse.admin
    commit_run(runs, make, 1)
    load_and_fold(processed, loader_con)
    admin.run("ALTER TABLE analytics.payment_summary ADD CONSTRAINT an_analytics_bug CHECK (false) NOT VALID")
    try:
        for seq in (2, 3):
            commit_run(runs, make, seq)
            assert [r.run_seq for r in run_load(processed, loader_con).runs] == [seq]
            with pytest.raises(SummaryFoldError, match="an_analytics_bug"):
                fold_pending(loader_con)
    finally:
        admin.run("ALTER TABLE analytics.payment_summary DROP CONSTRAINT an_analytics_bug")
    assert admin.run("SELECT max(run_seq) FROM pipeline.load_ledger") == [[3]]
    assert stamp(admin) == 1
    assert fold_pending(loader_con).folded_through == 3
    assert rebuilt_from_zero(admin) == snapshot(admin)


def test_listing_superseded_versions_never_scans_the_list_per_version(
    pipeline: Any, processed: Any, runs: Any, make: Any, loader_con: Any
) -> None:
    """The fold runs with hash joins off (010). Its test "is this version listed already?" must
    not become a sequential scan of <fact>_superseded per retired version (migration 013): such
    a scan reads every page its own INSERT has added so far, so a run with many new versions
    cost quadratic time. Run 1 stores one version per order (the list stays empty, and is
    analyzed so), run 2 a new version of each."""
    admin = pipeline.warehouse.admin
    orders = range(1, 301)
    runs.commit(1, {**make.base_dimensions(), "fact_sales_order": [make.sales_order(i) for i in orders]})
    load_and_fold(processed, loader_con)
    admin.run("ANALYZE")  # as an operator's vacuumdb --analyze: the list is known to be empty
    runs.commit(2, {"fact_sales_order": [make.sales_order(i, updated=T1, units_sold=11) for i in orders]})
    run_load(processed, loader_con)
    # the fold's transaction (load.summaries.fold_pending), with its scans of the list before its commit
    loader_con.run("BEGIN")
    loader_con.run("SELECT analytics.refresh_summaries(NULL, 'Infinity')")
    sql = "SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relid = 'analytics.sales_order_superseded'::regclass"
    scans = loader_con.run(sql)[0][0]
    loader_con.run("COMMIT")
    assert admin.run("SELECT count(*) FROM analytics.sales_order_superseded") == [[300]]
    assert scans < 10  # one scan per retired version (300) before 013
    assert rebuilt_from_zero(admin) == snapshot(admin)


def fill_current_of_014() -> str:
    """Migration 014's analytics.fill_current as a CREATE OR REPLACE: the definition 015 replaced."""
    sql = next(m.sql for m in discover() if m.version.startswith("014_"))
    start = sql.index("CREATE FUNCTION analytics.fill_current(")
    return "CREATE OR REPLACE" + sql[start + len("CREATE") : sql.index("\n$$;", start) + len("\n$$;")]


# Every statement of the fold, nested ones too, with its executed plan (rows and loops) as a NOTICE.
AUTO_EXPLAIN = {
    "log_min_duration": "0",
    "log_nested_statements": "on",
    "log_analyze": "on",
    "log_timing": "off",
    "log_format": "json",
    "log_level": "notice",
}


def list_rows_read_by_fill(admin: Any, fold_sql: str) -> int:
    """Run ``fold_sql`` in the caller's transaction under auto_explain; return how many rows the
    statement filling sales_current read from sales_order_superseded: the scan of the list
    times its loops, or the Materialize re-emitting it per outer row times its loops."""
    saved, admin.notices = admin.notices, deque()  # pg8000 keeps the last 100; a fold sends more
    try:
        admin.run("LOAD 'auto_explain'")
        for name, value in AUTO_EXPLAIN.items():
            admin.run(f"SET LOCAL auto_explain.{name} = '{value}'")
        admin.run(fold_sql)
        admin.run("SET LOCAL auto_explain.log_min_duration = -1")
        messages = [n.get(b"M", b"").decode() for n in admin.notices]
    finally:
        admin.notices = saved
    plans = [json.loads(m[m.index("{") :]) for m in messages if '"Query Text"' in m]
    fills = [p["Plan"] for p in plans if p["Query Text"].startswith("INSERT INTO analytics.sales_current SELECT")]
    assert len(fills) == 1, [p["Query Text"][:80] for p in plans]

    def read(node: dict[str, Any]) -> int:
        children = node.get("Plans", [])
        if node.get("Relation Name") == "sales_order_superseded" or (
            node["Node Type"] == "Materialize"
            and any(c.get("Relation Name") == "sales_order_superseded" for c in children)
        ):
            return int(node["Actual Rows"] * node["Actual Loops"])
        return sum(read(c) for c in children)

    return read(fills[0])


@pytest.mark.parametrize(
    "fill",
    [
        "from_zero",
        "incremental",  # failed before migration 018 (xfail): a Materialize of the list, re-read per new row
    ],
)
def test_filling_the_current_versions_reads_the_list_once_per_row_at_most(
    pipeline: Any, processed: Any, runs: Any, make: Any, loader_con: Any, fill: str
) -> None:
    """The current-versions tables (012) are filled from the facts minus <fact>_superseded,
    called from the fold whose hash and merge joins are off (010). When the list's statistics
    say it is empty while it holds rows, 014's fill re-read the whole list for every fact row
    (a nested loop over a Materialize of it: quadratic in the rows folded). 015
    hashes it in a fill from zero and probes its primary key in an incremental one: the rows
    read from the list stay within the rows folded plus the list's size. Each fold runs with
    auto_explain and is rolled back; the same fold with 014's fill_current put back (in its
    rolled-back transaction) must read the list quadratically, or the setup no longer reaches
    the plan 015 prevents and this test could not fail."""
    admin = pipeline.warehouse.admin
    admin.run("ALTER TABLE analytics.sales_order_superseded SET (autovacuum_enabled = false)")  # ours to set
    orders = range(1, 301)
    runs.commit(1, {**make.base_dimensions(), "fact_sales_order": [make.sales_order(i) for i in orders]})
    load_and_fold(processed, loader_con)
    runs.commit(2, {"fact_sales_order": [make.sales_order(i, updated=T1, units_sold=11) for i in orders]})
    load_and_fold(processed, loader_con)  # 300 versions listed
    if fill == "from_zero":
        # cleared and analyzed in the fold's transaction: the list "is empty" as the fold refills it
        before = ("SELECT analytics.clear_summaries('fact_sales_order')", "ANALYZE analytics.sales_order_superseded")
        fold, folded, listed = "SELECT analytics.refresh_summaries()", 600, 300
    else:
        # ANALYZE's page and row counts outlive a rollback: the list "is empty" and holds 300 rows
        admin.run("BEGIN")
        admin.run("DELETE FROM analytics.sales_order_superseded")
        admin.run("ANALYZE analytics.sales_order_superseded")
        admin.run("ROLLBACK")
        runs.commit(3, {"fact_sales_order": [make.sales_order(i, updated=T2, units_sold=12) for i in orders]})
        run_load(processed, loader_con)  # run 3's facts are committed; the fold is left to the test
        before, fold, folded, listed = (), "SELECT analytics.refresh_summaries(NULL, 'Infinity')", 300, 600
    read: dict[str, int] = {}
    for definition in ("main", "014"):
        admin.run("BEGIN")
        try:
            if definition == "014":
                admin.run(fill_current_of_014())
            for sql in before:
                admin.run(sql)
            read[definition] = list_rows_read_by_fill(admin, fold)
            assert admin.run("SELECT count(*) FROM analytics.sales_current") == [[300]]  # the last version of each
            assert admin.run("SELECT count(*) FROM analytics.sales_order_superseded") == [[listed]]
        finally:
            admin.run("ROLLBACK")
    assert read["014"] > 50 * (folded + listed)  # 014: the whole list per fact row (~135k / 180k rows)
    assert read["main"] <= folded + listed


def test_a_fold_from_zero_puts_back_every_index_it_dropped(
    pipeline: Any, processed: Any, runs: Any, make: Any, loader_con: Any
) -> None:
    """A fold from zero fills the current-versions tables and department_summary without their
    indexes, primary keys included, and builds them after the rows (migration 016): the same
    indexes must be there after, and the keys must still refuse a duplicate."""
    admin = pipeline.warehouse.admin
    tables = ("sales_current", "purchase_current", "payment_current", "department_summary")
    sql = (
        "SELECT c.relname, i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid), i.indisprimary"
        " FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid"
        " WHERE c.relnamespace = 'analytics'::regnamespace AND c.relname = ANY(:t) ORDER BY 1, 2"
    )
    before = admin.run(sql, t=list(tables))
    assert sum(1 for row in before if row[3]) == len(tables)  # a primary key each
    commit_run(runs, make, 1)
    load_and_fold(processed, loader_con)  # the first fold: from zero
    assert admin.run(sql, t=list(tables)) == before
    with pytest.raises(pg8000.exceptions.DatabaseError, match="duplicate key"):
        admin.run("INSERT INTO analytics.sales_current SELECT * FROM analytics.sales_current LIMIT 1")


def _department_moves(admin: Any, *update_sql: str) -> tuple[int, int, int]:
    """Run UPDATEs of dim_staff, then a fold: how many statements the fold added to
    department_summary with (a merge; the regroup of every moved staff member, one statement
    since migration 027), how many department_summary rows it wrote (inserted, updated, deleted) and
    how many analytics.department rows it updated. The UPDATE itself (its trigger) only queues
    the change (migration 026): it writes neither table."""
    # the xact views also show counts of earlier transactions not yet flushed: count the difference
    counts = (
        "SELECT (SELECT coalesce(sum(calls), 0) FROM pg_stat_xact_user_functions"
        "        WHERE funcname = 'add_to_department_summary'),"
        " (SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_xact_user_tables"
        "  WHERE schemaname = 'analytics' AND relname = 'department_summary'),"
        " (SELECT coalesce(sum(n_tup_upd), 0) FROM pg_stat_xact_user_tables"
        "  WHERE schemaname = 'analytics' AND relname = 'department')"
    )
    admin.run("BEGIN")
    try:
        admin.run("SET LOCAL track_functions = 'all'")
        before = admin.run(counts)[0]
        for sql in update_sql:
            admin.run(sql)
        queued = admin.run(counts)[0]
        admin.run("SELECT analytics.refresh_summaries()")
        after = admin.run(counts)[0]
        admin.run("COMMIT")
    except BaseException:
        admin.run("ROLLBACK")
        raise
    assert queued == before, "the trigger regrouped or renamed: it should only queue"
    regrouped, written, renamed = (int(a - b) for a, b in zip(after, before, strict=True))
    return regrouped, written, renamed


def test_a_department_renamed_or_merged_moves_its_rows_without_regrouping(
    pipeline: Any, processed: Any, runs: Any, make: Any, loader_con: Any
) -> None:
    """department_summary (migrations 014, 019, 020, 021) follows each staff member's current
    department. A department left empty and renamed to a name that holds no rows keeps its rows
    and its key: only its analytics.department row changes (021), also when someone joins it
    in the same statement (022). One merged into a name that
    has rows moves its rows as they are; of an emptied department's staff, only those who went
    elsewhere are regrouped; a staff member moving alone, or a swap, is regrouped per staff
    member. After each change the summary equals a fold from zero of the same warehouse."""
    admin = pipeline.warehouse.admin
    for seq in (1, 2, 3):
        commit_run(runs, make, seq)
    staff, sales = make.staff, make.sales_order
    runs.commit(
        4,
        {
            "dim_staff": [
                staff(2),  # Sales, with staff member 1
                staff(3, department_name="Purchasing"),
                staff(4, department_name="Marketing"),
            ],
            "fact_sales_order": [
                sales(10, sales_staff_id=2, units_sold=5),
                sales(11, sales_staff_id=3, currency_id=2),
                sales(12, sales_staff_id=4, created_date=FEB.date(), updated=FEB, design_id=2),
            ],
        },
    )
    load_and_fold(processed, loader_con)

    def departments() -> list[str]:
        return [
            r[0]
            for r in admin.run(
                "SELECT DISTINCT d.department_name FROM analytics.department_summary s"
                " JOIN analytics.department d USING (department_key) ORDER BY 1"
            )
        ]

    def key(name: str) -> list[list[int]]:
        return admin.run("SELECT department_key FROM analytics.department WHERE department_name = :n", n=name)

    assert departments() == ["Marketing", "Purchasing", "Sales"]
    sales_key = key("Sales")
    # the load's own path: its dimension upsert (INSERT ... ON CONFLICT DO UPDATE) renames Sales
    runs.commit(5, {"dim_staff": [staff(1, department_name="Sales and Marketing"),
                                  staff(2, department_name="Sales and Marketing")]})  # fmt: skip
    load_and_fold(processed, loader_con)
    assert departments() == ["Marketing", "Purchasing", "Sales and Marketing"]
    assert (key("Sales and Marketing"), key("Sales")) == (sales_key, [])  # renamed by its key
    assert rebuilt_from_zero(admin) == snapshot(admin)
    for update, added, renamed, after in (
        # merged: all of Marketing into Purchasing, which has rows of its own (Marketing keeps
        # its key, with no rows)
        ("UPDATE dim_staff SET department_name = 'Purchasing' WHERE department_name = 'Marketing'", 1, None,
         ["Purchasing", "Sales and Marketing"]),
        # one staff member leaves a department others stay in
        ("UPDATE dim_staff SET department_name = 'Purchasing' WHERE staff_id = 2", 1, None,
         ["Purchasing", "Sales and Marketing"]),
        # a swap: Sales and Marketing's only counted member (1) leaves and 3 joins it: its rows are
        # 1's, merged into Purchasing as they are (026: a department whose counted staff all left;
        # 022's trigger saw it kept someone and regrouped both), and 3 is regrouped
        ("UPDATE dim_staff SET department_name = CASE staff_id WHEN 1 THEN 'Purchasing' ELSE 'Sales and Marketing' END"
         " WHERE staff_id IN (1, 3)", 2, None, ["Purchasing", "Sales and Marketing"]),
        # renamed again, by a plain UPDATE
        ("UPDATE dim_staff SET department_name = 'Buying' WHERE department_name = 'Purchasing'", 0,
         ("Purchasing", "Buying"), ["Buying", "Sales and Marketing"]),
        # renamed to a name that has a key but no rows (Marketing, emptied by the merge)
        ("UPDATE dim_staff SET department_name = 'Marketing' WHERE department_name = 'Buying'", 0,
         ("Buying", "Marketing"), ["Marketing", "Sales and Marketing"]),
        # renamed while one of its staff (4) moves elsewhere: renamed by its key, staff member 4 regrouped
        ("UPDATE dim_staff SET department_name = CASE staff_id WHEN 4 THEN 'Sales and Marketing'"
         " ELSE 'Procurement' END WHERE department_name = 'Marketing'", 1, ("Marketing", "Procurement"),
         ["Procurement", "Sales and Marketing"]),
        # renamed while someone (1) joins it from a department that keeps others (and comes first
        # by name): renamed by its key whichever department the trigger takes first (022; 021
        # regrouped staff member 1 first and then merged), staff member 1 regrouped
        ("UPDATE dim_staff SET department_name = 'Retail' WHERE department_name = 'Sales and Marketing'"
         " OR staff_id = 1", 1, ("Sales and Marketing", "Retail"), ["Procurement", "Retail"]),
    ):  # fmt: skip
        old_key = key(renamed[0]) if renamed else None
        moves, written, renames = _department_moves(admin, update)
        assert moves == added, update
        if renamed:  # the rows keep their key, which takes the new name
            assert (key(renamed[1]), key(renamed[0])) == (old_key, []), update
            if not added:  # a rename alone: one analytics.department row, no summary row
                assert (written, renames) == (0, 1), update
        assert departments() == after, update
        assert rebuilt_from_zero(admin) == snapshot(admin), update


DEPARTMENTS = ("Sales", "Retail", "Buying", "Marketing", "Finance", "Stores")


def _staffed_warehouse(runs: Any, make: Any, processed: Any, loader_con: Any, admin: Any) -> None:
    """Runs 1-3, then staff 2-9 in four departments with two orders each, folded."""
    for seq in (1, 2, 3):
        commit_run(runs, make, seq)
    sales = make.sales_order
    runs.commit(
        4,
        {
            "dim_staff": [make.staff(i, department_name=DEPARTMENTS[i % 4]) for i in range(2, 10)],
            "fact_sales_order": [
                sales(10 + 2 * i + k, sales_staff_id=i, units_sold=i + k, currency_id=1 + k,
                      **({"created_date": FEB.date(), "updated": FEB, "design_id": 2} if k else {}))
                for i in range(2, 10) for k in (0, 1)
            ],
        },
    )  # fmt: skip
    load_and_fold(processed, loader_con)
    assert admin.run("SELECT count(DISTINCT department_key) FROM analytics.department_summary") == [[4]]


def _queued(admin: Any) -> list[list[Any]]:
    return admin.run("SELECT staff_id, old_name, new_name FROM analytics.department_change ORDER BY change_id")


def _new_version(admin: Any, rng: Any) -> None:
    """A later version of a random live order, by a random staff member (the fold retires the old one)."""
    admin.run(
        "INSERT INTO fact_sales_order (sales_order_id, created_date, created_time, last_updated_date,"
        " last_updated_time, sales_staff_id, counterparty_id, units_sold, unit_price, currency_id, design_id,"
        " agreed_payment_date, agreed_delivery_date, agreed_delivery_location_id)"
        " SELECT sales_order_id, created_date, created_time, last_updated_date,"
        " last_updated_time + interval '1 second', :staff, counterparty_id, units_sold + 1, unit_price,"
        " currency_id, design_id, agreed_payment_date, agreed_delivery_date, agreed_delivery_location_id"
        " FROM fact_sales_order WHERE sales_record_id = (SELECT sales_record_id FROM analytics.sales_current"
        " ORDER BY sales_record_id OFFSET :n LIMIT 1)",
        staff=rng.randint(1, 9),
        n=rng.randrange(int(admin.run("SELECT count(*) FROM analytics.sales_current")[0][0])),
    )


def _random_department_change(admin: Any, rng: Any) -> str:
    """One statement of a reorganisation: a rename (to a new name, an emptied one or a name in
    use: a merge), a staff member moving, a split, a swap of two departments' staff."""
    held = [r[0] for r in admin.run("SELECT DISTINCT department_name FROM dim_staff ORDER BY 1")]
    a, b, c = rng.choice(held), rng.choice(DEPARTMENTS), rng.choice(DEPARTMENTS)
    kind = rng.choice(["rename", "move", "split", "swap"])
    if kind == "rename":
        sql = f"UPDATE dim_staff SET department_name = '{b}' WHERE department_name = '{a}'"
    elif kind == "move":
        sql = f"UPDATE dim_staff SET department_name = '{b}' WHERE staff_id = {rng.randint(1, 9)}"
    elif kind == "split":
        sql = (
            f"UPDATE dim_staff SET department_name = CASE WHEN staff_id % 2 = 0 THEN '{b}' ELSE '{c}' END"
            f" WHERE department_name = '{a}'"
        )
    else:
        other = rng.choice(held)
        sql = (
            f"UPDATE dim_staff SET department_name = CASE department_name WHEN '{a}' THEN '{other}' ELSE '{a}' END"
            f" WHERE department_name IN ('{a}', '{other}')"
        )
    admin.run(sql)
    return sql


def test_many_department_changes_queued_before_one_fold(
    pipeline: Any, processed: Any, runs: Any, make: Any, loader_con: Any
) -> None:
    """Migration 026: dim_staff's trigger only queues its changes; the next fold applies them all
    at once. After any sequence of renames, merges, moves, splits, swaps (names emptied and used
    again) and new versions of orders, with no fold between them, one fold leaves
    department_summary equal to a fold from zero of the same warehouse, and the queue empty."""
    admin = pipeline.warehouse.admin
    _staffed_warehouse(runs, make, processed, loader_con, admin)
    rng = random.Random(2611)
    for round_ in range(30):
        before = snapshot(admin)["department_summary"]
        statements = [_random_department_change(admin, rng) for _ in range(rng.randint(2, 7))]
        if rng.random() < 0.5:
            _new_version(admin, rng)
            statements.append("a new version")
        assert snapshot(admin)["department_summary"] == before, statements  # the trigger wrote nothing
        admin.run("SELECT analytics.refresh_summaries()")
        assert _queued(admin) == [], statements
        assert rebuilt_from_zero(admin) == snapshot(admin), (round_, statements)


def test_several_loads_change_departments_before_one_fold(
    pipeline: Any, processed: Any, runs: Any, make: Any, loader_con: Any
) -> None:
    """The pipeline's own path: three loads upsert dim_staff (a rename, a move, a merge, a name
    emptied then used again, a split, a rename into an emptied name) and load orders of the
    staff who moved, with no fold between them (run_load does not fold). Their triggers queue
    the changes; the one fold that follows leaves every summary equal to a fold from zero."""
    admin = pipeline.warehouse.admin
    _staffed_warehouse(runs, make, processed, loader_con, admin)
    staff, sales = make.staff, make.sales_order
    later = dt.datetime(2024, 3, 1, 12, 0)
    loads = {
        # Retail (5, 9) renamed Finance; 2 moves from Buying to Sales; an order of 2, a new version of one of 5
        5: {"dim_staff": [staff(5, department_name="Finance"), staff(9, department_name="Finance"),
                          staff(2, department_name="Sales")],
            "fact_sales_order": [sales(40, sales_staff_id=2, units_sold=4),
                                 sales(20, updated=later, sales_staff_id=5, units_sold=11)]},
        # Marketing (3, 7) merged into Sales; 6, the last of Buying, moves to the name Marketing left
        6: {"dim_staff": [staff(3, department_name="Sales"), staff(7, department_name="Sales"),
                          staff(6, department_name="Marketing")],
            "fact_sales_order": [sales(41, sales_staff_id=3, currency_id=2)]},
        # Sales split (1, 4 to Stores); Finance renamed Buying, a name emptied in run 6
        7: {"dim_staff": [staff(1, department_name="Stores"), staff(4, department_name="Stores"),
                          staff(5, department_name="Buying"), staff(9, department_name="Buying")],
            "fact_sales_order": [sales(42, sales_staff_id=4, created_date=FEB.date(), updated=FEB)]},
    }  # fmt: skip
    for seq, tables in loads.items():
        runs.commit(seq, tables)
        run_load(processed, loader_con)
    assert stamp(admin) == 4  # the summaries trail the three loads
    assert len(_queued(admin)) == 10
    assert fold_pending(loader_con, INCREMENTAL).folded_through == 7
    assert _queued(admin) == []
    departments = admin.run(
        "SELECT DISTINCT d.department_name FROM analytics.department_summary s"
        " JOIN analytics.department d USING (department_key) ORDER BY 1"
    )
    assert departments == [["Buying"], ["Marketing"], ["Sales"], ["Stores"]]
    assert rebuilt_from_zero(admin) == snapshot(admin)


def test_a_chain_of_renames_queued_renames_every_key(
    pipeline: Any, processed: Any, runs: Any, make: Any, loader_con: Any
) -> None:
    """Buying renamed Stores, then Marketing renamed Buying (the name just freed), queued for one
    fold: both keep their rows and take their new names, whichever key the fold looks at first
    (the second fold has the chain the other way round): no regroup, no summary row written."""
    admin = pipeline.warehouse.admin
    _staffed_warehouse(runs, make, processed, loader_con, admin)
    rename = "UPDATE dim_staff SET department_name = '{}' WHERE department_name = '{}'"

    def keys() -> dict[str, int]:
        return dict(admin.run("SELECT department_name, department_key FROM analytics.department"))

    before = keys()
    assert _department_moves(admin, rename.format("Stores", "Buying"), rename.format("Buying", "Marketing")) == (
        0, 0, 2)  # fmt: skip
    after = keys()
    assert (after["Stores"], after["Buying"]) == (before["Buying"], before["Marketing"])
    assert rebuilt_from_zero(admin) == snapshot(admin)
    assert _department_moves(admin, rename.format("Finance", "Buying"), rename.format("Buying", "Stores")) == (
        0, 0, 2)  # fmt: skip
    assert (keys()["Finance"], keys()["Buying"]) == (before["Marketing"], before["Buying"])
    assert rebuilt_from_zero(admin) == snapshot(admin)


def test_a_department_change_and_its_undo_queued_regroup_nothing(
    pipeline: Any, processed: Any, runs: Any, make: Any, loader_con: Any
) -> None:
    """A rename and a staff move, each undone before the fold (four statements queued): the fold
    moves nothing (no regroup, no department_summary or analytics.department row written). A
    rename folded, then undone and folded, renames the key and then back."""
    admin = pipeline.warehouse.admin
    _staffed_warehouse(runs, make, processed, loader_con, admin)
    folded = snapshot(admin)
    departments = admin.run("SELECT * FROM analytics.department ORDER BY 1")
    moves = _department_moves(
        admin,
        "UPDATE dim_staff SET department_name = 'Finance' WHERE department_name = 'Retail'",
        "UPDATE dim_staff SET department_name = 'Sales' WHERE staff_id = 3",
        "UPDATE dim_staff SET department_name = 'Retail' WHERE department_name = 'Finance'",
        "UPDATE dim_staff SET department_name = 'Marketing' WHERE staff_id = 3",
    )
    assert moves == (0, 0, 0)
    assert snapshot(admin) == folded
    assert admin.run("SELECT * FROM analytics.department ORDER BY 1") == departments
    assert rebuilt_from_zero(admin) == folded
    # folded in between: each fold renames the key (one analytics.department row each), no summary row
    for update in ("UPDATE dim_staff SET department_name = 'Finance' WHERE department_name = 'Retail'",
                   "UPDATE dim_staff SET department_name = 'Retail' WHERE department_name = 'Finance'"):  # fmt: skip
        assert _department_moves(admin, update) == (0, 0, 1)
    assert snapshot(admin) == folded
    assert admin.run("SELECT * FROM analytics.department ORDER BY 1") == departments


def test_clearing_the_summaries_empties_the_department_queue(
    pipeline: Any, processed: Any, runs: Any, make: Any, loader_con: Any
) -> None:
    """A rebuild (clear_summaries) or a TRUNCATE of the fact (`totes replay`) folds from zero
    under dim_staff's departments now: the queued changes go with the summaries."""
    admin = pipeline.warehouse.admin
    _staffed_warehouse(runs, make, processed, loader_con, admin)
    rename = "UPDATE dim_staff SET department_name = '{}' WHERE department_name = '{}'"
    admin.run(rename.format("Finance", "Retail"))
    assert _queued(admin) == [[i, "Retail", "Finance"] for i in (5, 9)]
    admin.run("SELECT analytics.clear_summaries('fact_sales_order')")
    assert _queued(admin) == []
    admin.run("SELECT analytics.refresh_summaries()")
    assert rebuilt_from_zero(admin) == snapshot(admin)
    admin.run(rename.format("Retail", "Finance"))
    admin.run("TRUNCATE fact_sales_order")
    assert _queued(admin) == []


def test_keying_departments_converts_an_existing_summary_as_it_is(stack: Any, tmp_path: Path) -> None:
    """Migration 021 gives each department name of an existing department_summary a key and
    keeps its rows: the same figures per name, equal to a fold from zero afterwards."""
    before = tmp_path / "before"
    before.mkdir()
    migrations = discover()
    keyed = next(i for i, m in enumerate(migrations) if m.path.name.endswith("_analytics_department_key.sql"))
    for m in migrations[:keyed]:
        shutil.copy(m.path, before / m.path.name)
    by_name = (
        "SELECT department_name, breakdown, period, currency_id, member_id, orders, units, cents"
        " FROM analytics.department_summary {} ORDER BY 1, 2, 3, 4, 5"
    )
    with stack.warehouse_database(template="template0") as db:
        con = db.admin
        migrate(con, before)
        con.run("INSERT INTO dim_date SELECT DATE '2024-01-01', 2024, 1, 1, 1, 'Monday', 'January', 1")
        con.run(
            "INSERT INTO dim_staff VALUES (1, 'a', 'b', 'Sales', 'd', 'e'), (2, 'f', 'g', 'Purchasing', 'd', 'e'),"
            " (3, 'h', 'i', 'Sales', 'd', 'e')"
        )
        con.run("INSERT INTO dim_counterparty VALUES (1, 'n', 'a', NULL, NULL, 'c', 'p', 'k', 'ph')")
        con.run("INSERT INTO dim_currency VALUES (1, 'GBP', 'Pound'), (2, 'EUR', 'Euro')")
        con.run("INSERT INTO dim_design VALUES (1, 'd', 'l', 'f'), (2, 'e', 'l', 'f')")
        con.run("INSERT INTO dim_location VALUES (1, 'a', NULL, NULL, 'c', 'p', 'k', 'ph')")
        day = "DATE '2024-01-01'"
        for order, (staff, units, currency, design) in enumerate([(1, 5, 1, 1), (2, 3, 2, 1), (3, 7, 1, 2)], 1):
            con.run(
                "INSERT INTO fact_sales_order (sales_order_id, created_date, created_time, last_updated_date,"
                " last_updated_time, sales_staff_id, counterparty_id, units_sold, unit_price, currency_id, design_id,"
                " agreed_payment_date, agreed_delivery_date, agreed_delivery_location_id) VALUES"
                f" ({order}, {day}, '09:00', {day}, '09:00', {staff}, 1, {units}, 2.50, {currency}, {design},"
                f" {day}, {day}, 1)"
            )
        con.run("SELECT analytics.refresh_summaries()")
        summary = con.run(by_name.format(""))
        assert {r[0] for r in summary} == {"Sales", "Purchasing"}
        assert [m.path.stem for m in migrations[keyed:]] == migrate(con)
        assert con.run(by_name.format("JOIN analytics.department USING (department_key)")) == summary
        assert rebuilt_from_zero(con) == snapshot(con)
