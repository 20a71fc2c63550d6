"""Dashboard benchmark: each page's queries at a scale, and what keeping the summaries costs.

One throwaway PostgreSQL (fsync off) and moto under ``.local/bench-dashboard``. totesys is
seeded by the generator, then one ingestion and one transform run make processed run 1.
Two warehouses are migrated alike and loaded by the same ``run_load``: *with* summaries
(as deployed: ``run_load``, then the fold ``load.summaries.fold_pending`` that the load
Lambda asks for right after, timed apart) and *without* (the analytics schema's triggers
disabled, so the load does nothing for the app, and no fold):

* ``initial``: ``repeats`` times, a fresh copy of each template loads run 1 (the whole
  data set), interleaved (with, without, then reversed): wall seconds and the PostgreSQL
  backend's CPU seconds of ``run_load``, and for *with* of the fold after it.
* ``incremental``: on the last copies, ``batches`` batches of simulated changes, each made
  into a run by ingestion + transform and loaded into both warehouses (order alternating).
  The first batch comes right after the initial loads, whose facts autovacuum may not have
  analyzed yet (each sample says whether it had); then both warehouses are analyzed, as
  autovacuum does within minutes, and the other batches follow. Every simulated batch
  renames a department and moves a staff member; after the first, each round also loads a
  batch that changes no department (``simulate_changes(departments=False)``, the two kinds
  in turn): ``run_load_incremental_analyzed_no_department_change``, a cycle's usual cost.
* ``pages``: on the loaded warehouse (with summaries), as the read-only ``warehouse_reader``,
  each page's query function with several filter sets, ``query_repeats`` times each:
  median and all samples in ms and the backend's CPU ms; a date range or a member filter
  also as the pages read it before 012 (the current versions found in the facts, with their
  ``NOT EXISTS`` in ``<fact>_superseded``: the ``analytics.<fact>_current_of_facts`` views),
  interleaved; plus ``EXPLAIN (ANALYZE)``. The Sales and Purchases pages are also timed converted
  into GBP (``CONVERTED``: the page, the rates query, the total and the page rates the app computes), interleaved
  with the same page per currency, over a ``public.fx_rate`` filled first with the local rates API's
  synthetic rates for every day of the data's months up to today (the bench runs no rates step).

Run: ``.venv/bin/python -m benchmarks.bench_dashboard --scale 1m --repeats 2 --batches 4``.
``--no-pages`` leaves the page queries out (the load's figures only).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import shutil
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from benchmarks.measure import proc_cpu_s  # noqa: E402
from local.paths import LOCAL_DIR  # noqa: E402

SCALES = {"small": 2.0, "100k": 20.0, "1m": 200.0}  # generator scale: 200 = 1,000,000 sales orders
VARIANTS = ("with", "without")
# The triggers through which the load keeps the summaries (a department's staff moved, a fact
# truncated), as statements that turn them off or on: what *without* the summaries does not run.
ANALYTICS_TRIGGERS = """
SELECT format('ALTER TABLE %s %s TRIGGER %I', t.tgrelid::regclass, CAST(:verb AS text), t.tgname)
FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
WHERE p.pronamespace = 'analytics'::regnamespace AND NOT t.tgisinternal
"""
# The pages' member filters and date ranges as before 012: from the facts (the same rows, as views).
BEFORE_012 = "(fact versions, as before 012)"
# The Sales and Purchases pages converted into one reporting currency, as the app does (money.py).
CONVERTED = "converted to GBP"
# Whether a fact had been analyzed when a batch was loaded (the plans depend on it).
FACTS_ANALYZED = (
    "SELECT count(*) = 3 FROM pg_stats WHERE schemaname = 'public' AND (tablename, attname) IN"
    " (('fact_sales_order', 'sales_order_id'), ('fact_purchase_order', 'purchase_order_id'),"
    " ('fact_payment', 'payment_id'))"
)


def set_analytics_triggers(con: Any, *, enabled: bool) -> int:
    """Turn the analytics schema's triggers on or off in ``con``'s database; how many there are."""
    statements = [r[0] for r in con.run(ANALYTICS_TRIGGERS, verb="ENABLE" if enabled else "DISABLE")]
    for statement in statements:
        con.run(statement)
    return len(statements)


@contextlib.contextmanager
def _from_facts() -> Iterator[None]:
    """The pages' current-versions path reading ``analytics.<fact>_current_of_facts`` instead of
    the tables: the facts with their ``NOT EXISTS`` in ``<fact>_superseded``, as before 012."""
    from dashboard import purchases, sales

    saved = {
        (m, name): getattr(m, name)
        for m, name in ((sales, "CURRENT_SOURCE"), (purchases, "PURCHASE_CURRENT"), (purchases, "PAYMENT_ROWS"))
    }
    try:
        for (m, name), sql in saved.items():
            for table in ("sales_current", "purchase_current", "payment_current"):
                sql = sql.replace(f"analytics.{table} f", f"analytics.{table}_of_facts f")
            setattr(m, name, sql)
        yield
    finally:
        for (m, name), sql in saved.items():
            setattr(m, name, sql)


def _timed_load(store: Any, connect: Any, kind: str) -> dict[str, Any]:
    """``run_load`` of what is pending, then for *with* the fold the load Lambda asks for after it."""
    from load.run import run_load
    from load.summaries import fold_pending

    con = connect()
    try:
        analyzed = con.run(FACTS_ANALYZED)[0][0]
        backend = con.run("SELECT pg_backend_pid()")[0][0]
        cpu0, t0 = proc_cpu_s(backend), time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            result = run_load(store, con)
        seconds, cpu = time.perf_counter() - t0, proc_cpu_s(backend) - cpu0
        assert result.runs_committed >= 1, "nothing was loaded"
        fold_s = fold_cpu = 0.0
        if kind == "with":
            cpu0, t0 = proc_cpu_s(backend), time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                fold_pending(con)
            fold_s, fold_cpu = time.perf_counter() - t0, proc_cpu_s(backend) - cpu0
        return {
            "s": round(seconds, 3),
            "backend_cpu_s": round(cpu, 3),
            "fold_s": round(fold_s, 3),
            "fold_backend_cpu_s": round(fold_cpu, 3),
            "loadavg": os.getloadavg()[0],
            "facts_analyzed": analyzed,
        }
    finally:
        con.close()


def _page_cases() -> dict[str, list[tuple[str, Any]]]:
    from dashboard.filters import Filters

    return {
        "sales": [
            ("all time", Filters()),
            ("one year", Filters(start=date(2024, 1, 1), end=date(2024, 12, 1))),
            ("one month, GBP", Filters(start=date(2024, 6, 1), end=date(2024, 6, 1), currencies=(1,))),
            ("a counterparty", Filters(counterparties=(5,))),
            ("a design, one year", Filters(designs=(3,), start=date(2024, 1, 1), end=date(2024, 12, 1))),
            ("a department", Filters(departments=("Sales",))),
            ("a department, one year", Filters(departments=("Sales",), start=date(2024, 1, 1), end=date(2024, 12, 1))),
        ],
        "purchases": [
            ("all time", Filters()),
            ("one year", Filters(start=date(2024, 1, 1), end=date(2024, 12, 1))),
            ("one month", Filters(start=date(2024, 6, 1), end=date(2024, 6, 1))),
            ("a counterparty", Filters(counterparties=(5,))),
        ],
        "history": [("an order with two versions", None)],
        "health": [("warehouse only", None)],
    }


def _fill_rates(con: Any) -> int:
    """Every day's synthetic rate (``local.fx_server``) for the warehouse's currencies, from the
    first month with figures to the last one or today: what a rates step that fetched every date
    would have loaded. Returns the rows inserted."""
    from local.fx_server import synthetic_document

    first, last = con.run(
        "SELECT min(period), max(period) FROM analytics.sales_summary"
        " WHERE breakdown = 'total' AND period <> '-infinity'"
    )[0]
    codes = [r[0] for r in con.run("SELECT currency_code FROM dim_currency")]
    rows: list[tuple[str, str, str]] = []
    day, end = first, min(date(last.year + last.month // 12, last.month % 12 + 1, 1), date.today())
    while day < end:
        reply = synthetic_document(day, "gbp")
        rates = json.loads(reply.body)["gbp"]
        rows += [(c, day.isoformat(), str(rates[c.lower()])) for c in codes if c.lower() in rates]
        day = date.fromordinal(day.toordinal() + 1)
    codes_, days, values = (list(x) for x in zip(*rows, strict=True)) if rows else ([], [], [])
    con.run(
        "INSERT INTO public.fx_rate (currency_code, rate_date, rate, base_currency, source, run_seq)"
        " SELECT c, CAST(d AS date), CAST(r AS numeric), 'GBP', 'bench synthetic', 0"
        " FROM unnest(CAST(:c AS text[]), CAST(:d AS text[]), CAST(:r AS text[])) AS v(c, d, r)"
        " ON CONFLICT DO NOTHING",
        c=codes_,
        d=days,
        r=values,
    )
    con.run("ANALYZE public.fx_rate")
    return len(rows)


def _measure_pages(connect: Any, query_repeats: int) -> dict[str, Any]:
    from dashboard.health import pipeline_health
    from dashboard.history import order_history
    from dashboard.money import monthly_rates
    from dashboard.options import filter_options
    from dashboard.purchases import purchases_page
    from dashboard.sales import sales_page
    from dashboard.session import prepare_session

    con = prepare_session(connect())  # as the app's pool does
    changed = con.run("SELECT min(sales_order_id) FROM fact_sales_order GROUP BY sales_order_id HAVING count(*) > 1")
    order_id = changed[0][0] if changed else 1
    backend = con.run("SELECT pg_backend_pid()")[0][0]

    def before_012(page: Any) -> Any:
        def run_page(f: Any) -> Any:
            with _from_facts():
                return page(con, f, facts=True)

        return run_page

    def converted(page: Any) -> Any:
        def run_page(f: Any) -> Any:  # what the app's callback computes besides the figures' drawing
            p = page(con, f)
            cells = p.cells if hasattr(p, "cells") else p.payment_cells
            rates = monthly_rates(con, "GBP", (m for m, _ in cells))
            rates.total(cells)
            return rates.over(cells)

        return run_page

    run = {
        "sales": lambda f: sales_page(con, f),
        f"sales {CONVERTED}": converted(sales_page),
        f"purchases {CONVERTED}": converted(purchases_page),
        f"sales {BEFORE_012}": before_012(sales_page),
        "purchases": lambda f: purchases_page(con, f),
        f"purchases {BEFORE_012}": before_012(purchases_page),
        "history": lambda _f: order_history(con, order_id),
        "health": lambda _f: pipeline_health(con),
    }
    out: dict[str, Any] = {}
    options_ms = []
    for _ in range(query_repeats):
        t0 = time.perf_counter()
        filter_options(con)
        options_ms.append((time.perf_counter() - t0) * 1000)
    out["filter options (every page's dropdowns)"] = {"median_ms": round(statistics.median(options_ms), 1)}
    for page, cases in _page_cases().items():
        for name, filters in cases:
            # A date range or a member filter: the path before 012, interleaved with the new one.
            old = filters is not None and (filters.has_range or filters.needs_facts)
            pages = [page, f"{page} {BEFORE_012}"] if old else [page]
            if f"{page} {CONVERTED}" in run:  # the same page converted, interleaved
                pages.insert(1, f"{page} {CONVERTED}")
            for p in pages:
                run[p](filters)  # warm: the first call pays for plan caches and reading pages in
            samples: dict[str, list[tuple[float, float]]] = {p: [] for p in pages}
            for _ in range(query_repeats):
                for p in pages:
                    cpu0, t0 = proc_cpu_s(backend), time.perf_counter()
                    run[p](filters)
                    samples[p].append(((time.perf_counter() - t0) * 1000, proc_cpu_s(backend) - cpu0))
            for p in pages:
                out[f"{p}: {name}"] = {
                    "median_ms": round(statistics.median(ms for ms, _ in samples[p]), 1),
                    "backend_cpu_median_ms": round(1000 * statistics.median(c for _, c in samples[p]), 1),
                    "samples_ms": [round(ms, 1) for ms, _ in samples[p]],
                    "loadavg": round(os.getloadavg()[0], 2),
                }
    con.close()
    return out


def _explain(connect: Any) -> dict[str, str]:
    """The plans of the Sales and Purchases pages' SQL (all time, a year, member filters)."""
    from dashboard import purchases, sales
    from dashboard.filters import Filters
    from dashboard.session import prepare_session

    con = prepare_session(connect())
    plans: dict[str, str] = {}
    original = con.run
    for label, fn, f in (
        ("sales, all time", sales.sales_page, Filters()),
        ("sales, a counterparty", sales.sales_page, Filters(counterparties=(5,))),
        ("sales, a department", sales.sales_page, Filters(departments=("Sales",))),
        (
            "sales, a department, one year",
            sales.sales_page,
            Filters(departments=("Sales",), start=date(2024, 1, 1), end=date(2024, 12, 1)),
        ),
        ("purchases, a counterparty", purchases.purchases_page, Filters(counterparties=(5,))),
        ("sales, one year", sales.sales_page, Filters(start=date(2024, 1, 1), end=date(2024, 12, 1))),
        ("purchases, all time", purchases.purchases_page, Filters()),
        ("purchases, one year", purchases.purchases_page, Filters(start=date(2024, 1, 1), end=date(2024, 12, 1))),
    ):
        captured: list[str] = []

        def run(sql: str, _captured: list[str] = captured, **params: Any) -> Any:
            if sql.lstrip().startswith("WITH"):
                _captured.append(
                    "\n".join(r[0] for r in original("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + sql, **params))
                )
            return original(sql, **params)

        con.run = run  # type: ignore[method-assign]
        fn(con, f)
        con.run = original  # type: ignore[method-assign]
        plans[label] = captured[0] if captured else ""
    con.close()
    return plans


def run(
    scale: str = "small",
    repeats: int = 3,
    query_repeats: int = 9,
    seed: int = 42,
    batches: int = 4,
    pages: bool = True,
) -> dict[str, Any]:
    """Measure; start and stop the servers; return medians and every sample."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    from pg8000.native import identifier, literal

    from benchmarks.server import bench_servers, in_process_pipeline
    from common.config import SNAPSHOT_ROWS_PER_RUN
    from common.db import connect
    from local.generator import seed_database
    from local.simulator import simulate_changes
    from local.stack import READER_ROLE, WAREHOUSE_ROLE, create_source_database, create_warehouse_database

    root = LOCAL_DIR / "bench-dashboard"
    shutil.rmtree(root, ignore_errors=True)
    reader_pw, loader_pw, src_pw = (uuid.uuid4().hex for _ in range(3))
    out: dict[str, Any] = {
        "scale": scale,
        "generator_scale": SCALES[scale],
        "repeats": repeats,
        "batches": batches,
        "variants": list(VARIANTS),
    }
    with bench_servers(root / "pg") as (server, moto):
        create_source_database(server, "totesys", src_pw)
        for kind in VARIANTS:
            create_warehouse_database(server, f"wh_{kind}", loader_pw, reader_pw)

        def connect_as(db: str, user: str = WAREHOUSE_ROLE, pw: str = loader_pw) -> Any:
            return lambda: connect(server.credentials(db, user, pw), "totes-bench-dashboard")

        con = connect_as("wh_without")()
        out["triggers_disabled_without"] = set_analytics_triggers(con, enabled=False)
        con.close()
        admin = server.connect("totesys")
        t0 = time.perf_counter()
        out["seeded"] = seed_database(admin, seed=seed, scale=SCALES[scale])
        out["seed_s"] = round(time.perf_counter() - t0, 1)

        pipeline = in_process_pipeline(
            moto,
            "bd",
            source=server.credentials("totesys", "totes_reader", src_pw),
            warehouse=server.credentials("wh_with", WAREHOUSE_ROLE, loader_pw),
        )
        # run 1 is the whole data set, whatever the first-snapshot budget (issue 16) would split it into
        os.environ["SNAPSHOT_ROWS_PER_RUN"] = str(SNAPSHOT_ROWS_PER_RUN.high)
        pipeline.cycle()
        store = pipeline.processed
        admin_pg = server.connect()
        initial: dict[str, list[dict[str, float]]] = {kind: [] for kind in VARIANTS}
        pair: dict[str, str] = {}
        for i in range(repeats):
            for kind in VARIANTS if i % 2 == 0 else VARIANTS[::-1]:
                db = f"load_{kind}_{i}"
                admin_pg.run(
                    f"CREATE DATABASE {identifier(db)} TEMPLATE {identifier('wh_' + kind)}"
                    f" OWNER {identifier(WAREHOUSE_ROLE)}"
                )
                initial[kind].append(_timed_load(store, connect_as(db), kind))
                if pair.get(kind):
                    admin_pg.run(f"DROP DATABASE {identifier(pair[kind])}")
                pair[kind] = db
            print(f"initial load {i + 1}/{repeats} done", file=sys.stderr, flush=True)
        incremental: dict[str, list[dict[str, Any]]] = {kind: [] for kind in VARIANTS}
        quiet: dict[str, list[dict[str, Any]]] = {kind: [] for kind in VARIANTS}
        for i in range(batches):
            # After the first: a batch that changes no department too, the two kinds in turn.
            changes_departments = (True,) if i == 0 else (True, False) if i % 2 else (False, True)
            for departments in changes_departments:
                simulate_changes(admin, seed=100 + i, departments=departments)
                pipeline.cycle()
                for kind in VARIANTS if i % 2 == 0 else VARIANTS[::-1]:
                    sample = _timed_load(store, connect_as(pair[kind]), kind)
                    (incremental if departments else quiet)[kind].append(sample | {"department_change": departments})
            if i == 0:  # what autovacuum does some minutes after a big load
                for kind in VARIANTS:
                    con = connect_as(pair[kind])()
                    con.run("ANALYZE")
                    con.close()
        admin_pg.run(f"ALTER ROLE {identifier(READER_ROLE)} LOGIN PASSWORD {literal(reader_pw)}")
        reader = connect_as(pair["with"], READER_ROLE, reader_pw)
        if pages:
            wh = connect_as(pair["with"])()
            out["fx_rate_rows"] = _fill_rates(wh)
            wh.close()
            out["pages"] = _measure_pages(reader, query_repeats)
            out["plans"] = _explain(reader)
        wh = connect_as(pair["with"])()
        out["summary_rows"] = dict(
            wh.run(
                "SELECT 'sales_summary', count(*) FROM analytics.sales_summary UNION ALL"
                " SELECT 'purchase_summary', count(*) FROM analytics.purchase_summary UNION ALL"
                " SELECT 'payment_summary', count(*) FROM analytics.payment_summary UNION ALL"
                " SELECT 'sales_current', count(*) FROM analytics.sales_current UNION ALL"
                " SELECT 'purchase_current', count(*) FROM analytics.purchase_current UNION ALL"
                " SELECT 'payment_current', count(*) FROM analytics.payment_current UNION ALL"
                " SELECT 'department_summary', count(*) FROM analytics.department_summary"
            )
        )
        wh.close()
        admin_pg.close()
        admin.close()
        later = {kind: samples[1:] for kind, samples in incremental.items()}
        first = {kind: samples[:1] for kind, samples in incremental.items()}
        for label, runs in (
            ("initial", initial),
            ("incremental_first_after_initial", first),
            ("incremental_analyzed", later),
            ("incremental_analyzed_no_department_change", quiet),
        ):
            if not runs["with"]:
                continue
            med = {
                (kind, key): statistics.median(s[key] for s in runs[kind])
                for kind in VARIANTS
                for key in ("s", "backend_cpu_s", "fold_s", "fold_backend_cpu_s")
            }
            wo, wo_cpu = med["without", "s"], med["without", "backend_cpu_s"]
            out[f"run_load_{label}"] = {
                **{f"{kind}_{key}": value for (kind, key), value in med.items() if kind == "with" or "fold" not in key},
                "overhead_pct": round(100 * (med["with", "s"] - wo) / wo, 1),
                "overhead_cpu_pct": round(100 * (med["with", "backend_cpu_s"] - wo_cpu) / wo_cpu, 1),
                # The fold's own invocation against the load it follows: the work that left run_load.
                "fold_vs_load_pct": round(100 * med["with", "fold_s"] / wo, 1),
                "fold_vs_load_cpu_pct": round(100 * med["with", "fold_backend_cpu_s"] / wo_cpu, 1),
                "samples": runs,
            }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--query-repeats", type=int, default=9)
    parser.add_argument("--batches", type=int, default=4, help="Incremental batches (the first before ANALYZE).")
    parser.add_argument("--no-pages", action="store_true", help="Time the loads only, not the page queries.")
    args = parser.parse_args(argv)
    result = run(
        args.scale,
        args.repeats,
        args.query_repeats,
        batches=args.batches,
        pages=not args.no_pages,
    )
    print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
