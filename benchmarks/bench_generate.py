"""Benchmark: generate and COPY-load totesys at several scales (``local.generator``).

Each measurement runs in a fresh child process against a fresh database, so the peak
RSS reported is that of one generate+load alone, and nothing is cached between runs.
The child also times generation without a database (``generate_only_s``), which splits
the total into "building the columns" and "PostgreSQL ingesting them".

Usage::

    .venv/bin/python -m benchmarks.bench_generate --scales 1,20,200 --repeats 3

The machine is shared, so figures are medians of ``repeats`` runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from typing import Any

from local.paths import LOCAL_DIR

_CREDENTIALS_ENV = "BENCH_PG_CREDENTIALS"  # the child reads them here, not from argv (ps shows argv)


def _child(scale: float, seed: int) -> dict[str, Any]:
    """One measurement, in this (child) process: generate only, then generate + load."""
    from common.db import DbCredentials, connect
    from local.generator import generate_tables, seed_database

    start = time.perf_counter()
    for _ in generate_tables(seed=seed, scale=scale):
        pass
    generate_only = time.perf_counter() - start
    con = connect(DbCredentials(**json.loads(os.environ[_CREDENTIALS_ENV])), "bench-generate")
    try:
        start = time.perf_counter()
        counts = seed_database(con, seed=seed, scale=scale)
        total = time.perf_counter() - start
    finally:
        con.close()
    return {
        "generate_only_s": generate_only,
        "generate_and_load_s": total,
        "rows": sum(counts.values()),
        "sales_orders": counts["sales_order"],
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # Linux: KiB
    }


def _measure_once(server: Any, scale: float, seed: int) -> dict[str, Any]:
    from pg8000.native import identifier

    from local.stack import create_source_database

    database = f"bench_{uuid.uuid4().hex[:10]}"
    create_source_database(server, database, uuid.uuid4().hex)
    try:
        proc = subprocess.run(  # nosec B603 - this interpreter, fixed module, numeric arguments
            [sys.executable, "-m", "benchmarks.bench_generate", "--child", "--scales", str(scale),
             "--seed", str(seed)],
            env={**os.environ, _CREDENTIALS_ENV: server.credentials(database).to_secret_string()},
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        return json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        admin = server.connect()
        admin.run(f"DROP DATABASE IF EXISTS {identifier(database)} WITH (FORCE)")
        admin.close()


def run(scale: str = "1,20,200", repeats: int = 3, seed: int = 42) -> dict[str, Any]:
    """Time generate+load for each scale; medians of ``repeats`` runs.

    Parameters
    ----------
    scale
        Comma-separated scales, e.g. ``"1,20,200"`` (200 = 1,000,000 sales orders).
    repeats
        Runs per scale (>= 3 on a shared machine).
    seed
        Generator seed (any; the data size does not depend on it).

    Returns
    -------
    dict
        JSON-serialisable: per scale the medians, rows/s, peak RSS and every raw run.
    """
    from benchmarks.server import start_bench_postgres

    root = LOCAL_DIR / "bench" / f"generate-{os.getpid()}"
    server = start_bench_postgres(root / "pg")
    results: dict[str, Any] = {
        "benchmark": "generate_and_load",
        "command": f"python -m benchmarks.bench_generate --scales {scale} --repeats {repeats}",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "postgres": "local throwaway server, fsync=off",
        "scales": {},
    }
    try:
        for s in (float(x) for x in scale.split(",")):
            runs = [_measure_once(server, s, seed) for _ in range(repeats)]
            total = statistics.median(r["generate_and_load_s"] for r in runs)
            results["scales"][f"{s:g}"] = {
                "sales_orders": runs[0]["sales_orders"],
                "rows_all_tables": runs[0]["rows"],
                "median_generate_and_load_s": round(total, 3),
                "median_generate_only_s": round(statistics.median(r["generate_only_s"] for r in runs), 3),
                "rows_per_s": round(runs[0]["rows"] / total),
                "sales_orders_per_s": round(runs[0]["sales_orders"] / total),
                "peak_rss_mib": round(max(r["peak_rss_mib"] for r in runs), 1),
                "runs": runs,
            }
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="1,20,200")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(float(args.scales), args.seed)))
        return
    print(json.dumps(run(args.scales, args.repeats, args.seed), indent=2))


if __name__ == "__main__":
    main()
