"""`make bench`: every benchmark at every scale, one machine-readable record per invocation.

Scales are named by sales orders (other tables in proportion, ``local.generator``):
``small`` (10,000), ``100k`` and ``1m``; ``5m`` (generator scale 1000, ~22M rows) is
opt-in (``--scales 1m,5m --only e2e``: only the end-to-end area has it). Each area's
module (``benchmarks/bench_<area>.py``) exposes ``run(scale, repeats) -> dict`` with its
own scale names; ``SCALE_NAMES`` maps ours onto theirs, so the modules stay runnable on
their own. What each area measures,
side by side in the same run where the issue asks for a baseline:

* ``generate``: the totesys generator (generate + COPY load);
* ``ingestion``: the first extraction vs a raw ``COPY ... TO STDOUT`` (the ceiling),
  and a no-change run;
* ``transform``: one full run and small incremental runs;
* ``load``: ``run_load`` vs ``awswrangler.postgresql.to_sql`` (default chunksize 200
  and larger) vs ``psql \\copy`` (the ceiling);
* ``e2e``: the whole pipeline through the handlers and S3 events: the initial load,
  incremental cycles, and the change-to-warehouse latency;
* ``dashboard``: each page's queries of the analytics app, and ``run_load`` with vs without
  the summaries (their triggers off), first load and incremental runs, with the fold that
  follows each load timed apart;
* ``compare``: the comparison of the source with the lake, nothing differing vs 1,000
  rows changed in place (``bench_compare``).
* ``reconcile``: ``ops.reconcile`` (range hashes) vs the reconcile it replaced (both
  databases read whole), each in its own process: wall time, CPU, peak RSS; then one
  corrupted, one missing and one extra warehouse row must each be named.

Every figure is a median of ``--repeats`` (>= 3) runs. The record goes to
``benchmarks/results/<UTC time>-<commit>.json`` (machine, load average, command, per
scale per area the module's result, and the headline ratios), so regressions show
across commits; the human summary is docs/benchmarks.md. Usage::

    make bench                                           # every area, small,100k,1m
    make bench BENCH_ARGS="--scales small --only e2e"    # a subset
    make bench BENCH_ARGS="--scales 1m --tls off"        # TLS-off baseline (what TLS costs)
    make bench BENCH_ARGS="--scales 1m,5m --only e2e --repeats 1"   # 5M sales orders beside 1M

Every database connection uses verify-full TLS, as in AWS; ``--tls off`` runs the
throwaway server and every connection without it (``benchmarks/server.py``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import subprocess  # nosec B404
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.server import TLS_ENV

AREAS = ("generate", "ingestion", "transform", "load", "e2e", "dashboard", "compare", "reconcile")
SCALES = ("small", "100k", "1m")  # the default
OPT_IN_SCALES = ("5m",)  # ~22M rows: only when named in --scales
RESULTS_DIR = Path(__file__).resolve().parent / "results"

# Our scale name -> the area module's own scale argument (None: the module has no such scale).
SCALE_NAMES: dict[str, dict[str, str | None]] = {
    "generate": {"small": "2", "100k": "20", "1m": "200", "5m": None},  # generator scale; 200 = 1M sales orders
    "ingestion": {"small": "small", "100k": "100k", "1m": "1m", "5m": None},
    "transform": {"small": "small", "100k": "100k", "1m": "1m", "5m": None},
    "load": {"small": None, "100k": "small", "1m": "full", "5m": None},  # bench_load's smallest is 100k fact rows
    "e2e": {"small": "small", "100k": "100k", "1m": "1m", "5m": "5m"},
    "dashboard": {"small": "small", "100k": "100k", "1m": "1m", "5m": None},
    "compare": {"small": "small", "100k": "100k", "1m": "1m", "5m": None},
    "reconcile": {"small": "small", "100k": "100k", "1m": "1m", "5m": None},
}


def _commit() -> str:
    proc = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)  # nosec
    return proc.stdout.strip() or "unknown"


def _machine() -> dict[str, Any]:
    """What the numbers were measured on (the machine is shared: load average matters)."""
    info: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_at_start": os.getloadavg(),
    }
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            info["mem_total_gib"] = round(int(meminfo.readline().split()[1]) / 1024 / 1024, 1)
        with open("/proc/cpuinfo", encoding="ascii") as cpuinfo:
            info["cpu_model"] = next((ln.split(":", 1)[1].strip() for ln in cpuinfo if ln.startswith("model name")), "")
    except OSError:
        pass
    try:
        from local.postgres_server import find_pg_bin

        out = subprocess.run([find_pg_bin("postgres"), "--version"], capture_output=True, text=True, check=False)  # nosec
        info["postgres"] = out.stdout.strip()
    except Exception as exc:  # best effort: the record is still useful without it
        info["postgres"] = f"unknown ({exc})"
    return info


def headline(area: str, result: dict[str, Any]) -> dict[str, Any]:
    """The few numbers per area that the docs table and a regression check look at."""
    if area == "compare":
        keys = ("median_none_seconds", "median_none_cpu_s", "median_none_backend_cpu_s", "median_thousand_seconds",
                "ratio_thousand_to_none", "peak_rss_mib")  # fmt: skip
        return {k: result.get(k) for k in keys}
    if area == "ingestion":
        keys = ("first_extraction_rows_per_s", "ceiling_rows_per_s", "ratio_first_extraction_to_ceiling",
                "median_no_change_s", "peak_rss_mib_first_extraction")  # fmt: skip
        return {k: result.get(k) for k in keys}
    if area == "transform":
        keys = ("fact_rows_per_s_median", "full_run_s_median", "incremental_run_s_median", "peak_rss_mib_max")
        return {k: result.get(k) for k in keys}
    if area == "load":
        out = {"ratios_vs_run_load": result.get("ratios_vs_run_load")}
        for method in ("run_load", "psql_copy"):
            if isinstance(result.get(method), dict):
                out[f"{method}_rows_per_s"] = result[method]["rows_per_s"]
        wrangler = {m: v["rows_per_s"] for m, v in result.items() if m.startswith("wrangler") and isinstance(v, dict)}
        if wrangler:
            best = max(wrangler, key=lambda m: wrangler[m])
            out["wrangler_default_rows_per_s"] = wrangler.get("wrangler_to_sql_chunksize_200")
            out["wrangler_best"] = {"method": best, "rows_per_s": wrangler[best]}
        return out
    if area == "e2e":
        initial, inc = result.get("initial", {}), result.get("incremental", {})
        out = {"initial_cycle_s": initial.get("cycle_seconds")}
        for stage in ("ingestion", "transform", "load"):
            got = initial.get(stage, {})
            keys = ("seconds", "rows", "rows_per_s", "peak_rss_mib", "cpu_s_per_1m_rows", "server_cpu_s_per_1m_rows")
            out[f"initial_{stage}"] = {k: got.get(k) for k in keys}
        out["largest_ingest_object_mib"] = initial.get("largest_ingest_object_mib")
        out["incremental_cycle_s"] = inc.get("cycle_seconds")
        for stage in ("ingestion", "transform", "load"):
            got = inc.get(stage, {})
            out[f"incremental_{stage}"] = {k: got.get(k) for k in ("seconds", "rows_median", "peak_rss_mib")}
        out["change_to_warehouse_s"] = inc.get("change_to_warehouse_s")
        out["change_to_warehouse_s_max"] = inc.get("change_to_warehouse_s_max")
        out["reconcile_ok"] = result.get("reconcile_ok")
        return out
    if area == "dashboard":
        out = {f"{page} median ms": v["median_ms"] for page, v in result.get("pages", {}).items()}
        for kind in (
            "initial",
            "incremental_first_after_initial",
            "incremental_analyzed",
            "incremental_analyzed_no_department_change",
        ):
            got = result.get(f"run_load_{kind}", {})
            out[f"run_load_{kind}"] = {
                k: got.get(k) for k in ("with_s", "without_s", "overhead_pct", "with_fold_s", "fold_vs_load_pct")
            }
        return out
    if area == "reconcile":
        out = {}
        for which in ("new", "old"):
            got = result.get(which) or {}
            out[which] = {k: got.get(k) for k in ("s_median", "peak_rss_mib_max", "backends_cpu_s_median")}
        out["corrupted_rows_named"] = (result.get("corrupted") or {}).get("named_all_three")
        out["targets"] = {k: (result.get("targets") or {}).get(k) for k in ("rss_met", "time_met")}
        return out
    if area == "generate":
        return {
            s: {k: v.get(k) for k in ("median_generate_and_load_s", "rows_per_s", "peak_rss_mib")}
            for s, v in result.get("scales", {}).items()
        }
    return {}


def markdown(record: dict[str, Any]) -> str:
    """The scale table of docs/benchmarks.md from one results record (headline figures)."""

    def fmt(value: Any, unit: str = "") -> str:
        if value is None:
            return "—"
        if isinstance(value, bool):
            return "yes" if value else "NO"
        if isinstance(value, float):
            value = round(value, 2) if value < 100 else round(value)
        return f"{value:,}{unit}" if isinstance(value, int) else f"{value}{unit}"

    rows = ["| scale | area | figure | value |", "|---|---|---|---|"]
    for scale, areas in record.get("results", {}).items():
        for area, result in areas.items():
            for name, value in headline(area, result).items():  # recomputed: older records have fewer
                if isinstance(value, dict):
                    value = ", ".join(f"{k}: {fmt(v)}" for k, v in value.items())
                rows.append(f"| {scale} | {area} | {name} | {fmt(value)} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", default=",".join(SCALES), help="comma list of small | 100k | 1m | 5m (opt-in)")
    parser.add_argument("--scale", dest="scales", help=argparse.SUPPRESS)  # the old single-scale flag
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", default=",".join(AREAS), help="comma list of areas")
    parser.add_argument(
        "--e2e-1m-repeats", type=int, default=1,
        help="lives of the pipeline at 1m and 5m (each one a full 4.4M- or 22M-row initial load; its incremental "
             "cycles are still >= 3)",
    )  # fmt: skip
    parser.add_argument("--markdown", metavar="RESULTS_JSON", help="print the headline table of a results file")
    parser.add_argument("--tls", choices=("on", "off"), default="on", help="database TLS (off: the baseline)")
    args = parser.parse_args(argv)
    if args.markdown:
        print(markdown(json.loads(Path(args.markdown).read_text())))
        return 0
    scales = [s.strip() for s in args.scales.split(",") if s.strip()]
    areas = [a.strip() for a in args.only.split(",") if a.strip()]
    os.environ[TLS_ENV] = args.tls  # the benches' servers and their children read it
    for s in scales:
        if s not in SCALES + OPT_IN_SCALES:
            parser.error(f"unknown scale {s!r}; use {', '.join(SCALES + OPT_IN_SCALES)}")
    record: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": _commit(),
        "command": "python -m benchmarks.run " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": _machine(),
        "scales": scales,
        "repeats": args.repeats,
        "tls": args.tls,
        "results": {},
        "headline": {},
        "errors": {},
    }
    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{record['commit']}.json"
    for scale in scales:
        for area in areas:
            their_scale = SCALE_NAMES[area][scale]
            if their_scale is None:
                print(f"== {area} @ {scale}: not measured (no such scale in bench_{area})", flush=True)
                continue
            module = importlib.import_module(f"benchmarks.bench_{area}")
            repeats = args.e2e_1m_repeats if area == "e2e" and scale in ("1m", *OPT_IN_SCALES) else args.repeats
            print(f"== {area} @ {scale} ({their_scale}), {repeats} repeats", flush=True)
            t0 = time.perf_counter()
            try:
                result = module.run(their_scale, repeats)
            except Exception as exc:  # one failing area must not lose the others' numbers
                record["errors"][f"{area}@{scale}"] = "".join(traceback.format_exception(exc))[-4000:]
                print(f"   FAILED: {exc}", flush=True)
                continue
            result["_wall_s"] = round(time.perf_counter() - t0, 1)
            result["_loadavg_after"] = os.getloadavg()
            record["results"].setdefault(scale, {})[area] = result
            record["headline"].setdefault(scale, {})[area] = headline(area, result)
            print(json.dumps(record["headline"][scale][area], default=str), flush=True)
            # Written after every area: a long run interrupted late keeps what it measured.
            out.write_text(json.dumps(record, indent=2, default=str))
    record["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    out.write_text(json.dumps(record, indent=2, default=str))
    print(f"results written to {out}")
    return 1 if record["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
