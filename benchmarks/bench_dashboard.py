"""Dashboard benchmark: each page's queries at a scale, and what keeping the summaries costs the load.

One throwaway PostgreSQL (fsync off) and moto under ``.local/bench-dashboard``. totesys is
seeded by the generator, then one ingestion and one transform run make processed run 1.
Three warehouses are migrated alike and loaded by the same ``run_load`` code with a
different ``load.summaries.FoldPolicy``: *with* (the default: a big run's summaries are
folded after its commit, migration 011), *in_run* (every fold inside the run's
transaction, as before 011) and *without* (``analytics.refresh_summaries`` replaced by a
no-op, folded in the run); *before_012* is *with* with the fold functions as 011 left them (010's
``retire_versions`` and ``refresh_sales``: the current-versions tables of 012 not kept):

* ``initial``: ``repeats`` times, a fresh copy of each template loads run 1 (the whole
  data set) through ``run_load``, interleaved (with, in_run, without, before_012, then reversed):
  wall seconds and the PostgreSQL backend's CPU seconds of each; for *with* also the
  same up to the run's COMMIT (``commit_s``, ``commit_backend_cpu_s``: the facts are
  visible from then on) and of the fold after it.
* ``incremental``: on the last copies, ``batches`` batches of simulated changes, each made
  into a run by ingestion + transform and loaded into every warehouse (order alternating).
  The first batch comes right after the initial loads, whose facts autovacuum may not have
  analyzed yet (each sample says whether it had); then every warehouse is analyzed, as
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
``--no-pages`` leaves the page queries out (the load's figures only); ``--variants with,without``
loads only those two (the other two are comparisons with earlier designs, and double the time).
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
NO_OP_REFRESH = (
    "CREATE OR REPLACE FUNCTION analytics.refresh_summaries(through_run integer DEFAULT NULL,"
    " rebuild_at real DEFAULT 1) RETURNS void LANGUAGE sql AS $$ SELECT $$"
)
VARIANTS = ("with", "in_run", "without", "before_012")
# The fold before migration 012 kept the current-versions tables (as 010 left it), side by side.
MIGRATIONS = ROOT / "sql" / "warehouse"
UPKEEP_BEFORE_012 = (
    ("010_analytics_fold_cost.sql", ("merge_months", "merge_running", "retire_versions", "refresh_sales")),
)
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


def _policy(kind: str) -> Any:
    from load.summaries import FoldPolicy

    return FoldPolicy(after_commit_rows=None) if kind in ("in_run", "without") else FoldPolicy()


def _upkeep_before_012_sql() -> str:
    """The fold functions as 010 left them, as CREATE OR REPLACE over 012's."""
    out = []
    for file, names in UPKEEP_BEFORE_012:
        text = (MIGRATIONS / file).read_text()
        for name in names:
            start = text.index(f"FUNCTION analytics.{name}(")
            start = text.rindex("CREATE ", 0, start)
            end = text.index("\n$$;", start) + len("\n$$;")
            body = text[start:end].replace("CREATE OR REPLACE FUNCTION", "CREATE FUNCTION", 1)
            out.append(body.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
    return "\n".join(out)


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
    from load.run import LoadHooks, run_load

    con = connect()
    try:
        analyzed = con.run(FACTS_ANALYZED)[0][0]
        backend = con.run("SELECT pg_backend_pid()")[0][0]
        committed: list[tuple[float, float]] = []  # (s, backend CPU-s) at the run's COMMIT, before its own fold
        cpu0, t0 = proc_cpu_s(backend), time.perf_counter()
        hooks = LoadHooks(
            after_commit=lambda _seq: committed.append((time.perf_counter() - t0, proc_cpu_s(backend) - cpu0))
        )
        with contextlib.redirect_stdout(io.StringIO()):
            result = run_load(store, con, hooks=hooks, fold=_policy(kind))
        seconds = time.perf_counter() - t0
        cpu = proc_cpu_s(backend) - cpu0
        assert result.runs_committed >= 1, "nothing was loaded"
        commit_s, commit_cpu = committed[0] if committed else (seconds, cpu)
        return {
            "s": round(seconds, 3),
            "backend_cpu_s": round(cpu, 3),
            "commit_s": round(commit_s, 3),
            "commit_backend_cpu_s": round(commit_cpu, 3),
            "folded_after_commit": bool(committed),
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
    variants: tuple[str, ...] = VARIANTS,
) -> dict[str, Any]:
    """Measure; start and stop the servers; return medians and every sample.

    ``variants``: which warehouses to load (``with`` and ``without`` always).
    """
    if not {"with", "without"} <= set(variants) <= set(VARIANTS):
        raise ValueError(f"variants must include with and without, from {VARIANTS}: {variants}")
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
        "variants": list(variants),
    }
    with bench_servers(root / "pg") as (server, moto):
        create_source_database(server, "totesys", src_pw)
        for kind in variants:
            create_warehouse_database(server, f"wh_{kind}", loader_pw, reader_pw)

        def connect_as(db: str, user: str = WAREHOUSE_ROLE, pw: str = loader_pw) -> Any:
            return lambda: connect(server.credentials(db, user, pw), "totes-bench-dashboard")

        con = connect_as("wh_without")()
        con.run(NO_OP_REFRESH)
        con.close()
        if "before_012" in variants:
            con = connect_as("wh_before_012")()
            con.execute_simple(_upkeep_before_012_sql())
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
        initial: dict[str, list[dict[str, float]]] = {kind: [] for kind in variants}
        pair: dict[str, str] = {}
        for i in range(repeats):
            for kind in variants if i % 2 == 0 else variants[::-1]:
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
        incremental: dict[str, list[dict[str, Any]]] = {kind: [] for kind in variants}
        quiet: dict[str, list[dict[str, Any]]] = {kind: [] for kind in variants}
        for i in range(batches):
            # After the first: a batch that changes no department too, the two kinds in turn.
            changes_departments = (True,) if i == 0 else (True, False) if i % 2 else (False, True)
            for departments in changes_departments:
                simulate_changes(admin, seed=100 + i, departments=departments)
                pipeline.cycle()
                for kind in variants if i % 2 == 0 else variants[::-1]:
                    sample = _timed_load(store, connect_as(pair[kind]), kind)
                    (incremental if departments else quiet)[kind].append(sample | {"department_change": departments})
            if i == 0:  # what autovacuum does some minutes after a big load
                for kind in variants:
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
                for kind in variants
                for key in ("s", "backend_cpu_s", "commit_s", "commit_backend_cpu_s")
            }
            wo, wo_cpu = med["without", "s"], med["without", "backend_cpu_s"]
            out[f"run_load_{label}"] = {
                **{f"{kind}_{key}": value for (kind, key), value in med.items()},
                "overhead_to_commit_pct": round(100 * (med["with", "commit_s"] - wo) / wo, 1),
                "overhead_to_commit_cpu_pct": round(100 * (med["with", "commit_backend_cpu_s"] - wo_cpu) / wo_cpu, 1),
                "overhead_with_fold_pct": round(100 * (med["with", "s"] - wo) / wo, 1),
                "overhead_with_fold_cpu_pct": round(100 * (med["with", "backend_cpu_s"] - wo_cpu) / wo_cpu, 1),
                "samples": runs,
            }
            if "in_run" in variants:
                out[f"run_load_{label}"]["overhead_in_run_pct"] = round(100 * (med["in_run", "s"] - wo) / wo, 1)
                out[f"run_load_{label}"]["overhead_in_run_cpu_pct"] = round(
                    100 * (med["in_run", "backend_cpu_s"] - wo_cpu) / wo_cpu, 1
                )
            if "before_012" in variants:
                out[f"run_load_{label}"]["current_tables_cpu_s"] = round(
                    med["with", "backend_cpu_s"] - med["before_012", "backend_cpu_s"], 3
                )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--query-repeats", type=int, default=9)
    parser.add_argument("--batches", type=int, default=4, help="Incremental batches (the first before ANALYZE).")
    parser.add_argument("--no-pages", action="store_true", help="Time the loads only, not the page queries.")
    parser.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help=f"Warehouses to load, comma-separated, from {','.join(VARIANTS)} (with and without always).",
    )
    args = parser.parse_args(argv)
    result = run(
        args.scale,
        args.repeats,
        args.query_repeats,
        batches=args.batches,
        pages=not args.no_pages,
        variants=tuple(args.variants.split(",")),
    )
    print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
