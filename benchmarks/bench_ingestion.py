"""Benchmark: ingestion of totesys into the ingest bucket (``ingestion.run``).

Measured, side by side and interleaved in each repeat on one generated totesys:

* ``ceiling``: a raw ``COPY (SELECT <contract columns> FROM sales_order) TO STDOUT``
  into a sink that discards the bytes — the fastest pg8000 can receive those rows;
* ``first_extraction``: ``run_ingestion`` of ``sales_order`` on empty state (a full
  snapshot: JSON rendering, gzip, checksum, upload to S3 (moto), manifest, SSM);
* ``no_change``: the Lambda handler on all eleven tables when nothing changed since
  the previous run (includes Secrets Manager, connect, SSM, S3 LIST/PUTs); timed warm
  (``seconds``) and, separately, the first call of the process that also builds the
  boto3 clients (``cold_seconds``).

Every measurement runs in a fresh child process, timed inside it (interpreter start
excluded), and reports its own peak RSS, its CPU time (user+sys, all threads), the
CPU time of its PostgreSQL backend and the 1-minute load average when it started: on a
shared 2-core machine wall times are noisy, CPU seconds much less so. moto runs as its
own process, so the S3 server does not share the measured process's CPU (its CPU
time is reported apart, ``moto_cpu_s``). Usage::

    .venv/bin/python -m benchmarks.bench_ingestion --scale 1m --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess  # nosec B404 - runs this module as a child with list arguments
import sys
import time
import uuid
from typing import Any

from benchmarks.measure import cpu_s, peak_rss_mib, proc_cpu_s
from local.paths import LOCAL_DIR

SCALES = {"small": 2.0, "100k": 20.0, "1m": 200.0}  # generator scale: 200 = 1,000,000 sales orders
_PROFILE = bool(os.environ.get("BENCH_INGESTION_PROFILE"))
_CONFIG_ENV = "BENCH_INGESTION_CONFIG"  # passwords travel in the environment, not argv


class _Discard:
    """A COPY sink that only counts rows (the ceiling does no work on them)."""

    rows = 0

    def write(self, data: bytes) -> None:
        self.rows += 1


def _child(mode: str) -> dict[str, Any]:
    """One measurement in this (child) process."""
    import boto3
    import pg8000.native

    from common.db import DbCredentials, connect
    from common.s3_store import LakeStore
    from common.source_tables import SOURCE_TABLES, resolve_tables

    cfg = json.loads(os.environ[_CONFIG_ENV])
    creds = DbCredentials(**cfg["source"])
    result: dict[str, Any] = {"loadavg_1m": os.getloadavg()[0]}
    if mode == "ceiling":
        con = connect(creds, "bench-ingestion")
        cols = ", ".join(pg8000.native.identifier(c) for c in SOURCE_TABLES["sales_order"].column_names)
        sink = _Discard()
        backend = _Backend(con)
        cpu, start = cpu_s(), time.perf_counter()
        con.run(f"COPY (SELECT {cols} FROM sales_order) TO STDOUT", stream=sink)
        result |= {"seconds": time.perf_counter() - start, "rows": sink.rows, "cpu_s": cpu_s() - cpu}
        result["backend_cpu_s"] = backend.cpu_s()
        con.close()
    elif mode == "first_extraction":
        from ingestion.run import run_ingestion

        con = connect(creds, "bench-ingestion")
        store, ssm = LakeStore(os.environ["INGEST_BUCKET"], boto3.client("s3")), boto3.client("ssm")
        backend = _Backend(con)
        cpu, start = cpu_s(), time.perf_counter()
        res = run_ingestion(
            store=store, ssm=ssm, connection=con, ssm_prefix=os.environ["SSM_PREFIX"],
            tables=resolve_tables("sales_order"),
        )  # fmt: skip
        result |= {"seconds": time.perf_counter() - start, "rows": res.total_rows, "cpu_s": cpu_s() - cpu}
        result["backend_cpu_s"] = backend.cpu_s()
        con.close()
    elif mode == "no_change":
        from ingestion.handler import lambda_handler

        # The first call builds the boto3 clients (Lambda's cold start); the second is a warm
        # invocation, which is what every scheduled run but the first after a deploy is.
        start = time.perf_counter()
        summary = lambda_handler({}, None)
        cold = time.perf_counter() - start
        start = time.perf_counter()
        summary = lambda_handler({}, None)
        result |= {"seconds": time.perf_counter() - start, "cold_seconds": cold, "rows": summary["rows"]}
    result["peak_rss_mib"] = peak_rss_mib()
    return result


class _Backend:
    """The CPU time a connection's PostgreSQL backend spends from now on (the server is local)."""

    def __init__(self, con: Any) -> None:
        self.pid = con.run("SELECT pg_backend_pid()")[0][0]
        self.start = proc_cpu_s(self.pid)

    def cpu_s(self) -> float:
        return proc_cpu_s(self.pid) - self.start


def _spawn(mode: str, env: dict[str, str], moto_pid: int | None = None) -> dict[str, Any]:
    moto_start = proc_cpu_s(moto_pid) if moto_pid else None
    proc = subprocess.run(  # nosec B603
        [sys.executable, "-m", "benchmarks.bench_ingestion", "--child", mode, *(["--profile"] if _PROFILE else [])],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"child {mode} failed:\n{proc.stderr[-4000:]}")
    if _PROFILE:
        print(proc.stderr, file=sys.stderr)
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    moto_end = proc_cpu_s(moto_pid) if moto_pid else None
    if moto_start is not None and moto_end is not None:
        result["moto_cpu_s"] = moto_end - moto_start
    return result


def run(scale: str = "1m", repeats: int = 3, seed: int = 42) -> dict[str, Any]:
    """Measure the ceiling, the first extraction and a no-change run; medians of ``repeats``.

    Parameters
    ----------
    scale
        ``small`` (10k sales orders), ``100k`` or ``1m``.
    repeats
        Runs of each measurement (>= 3 on a shared machine), interleaved.
    seed
        Generator seed.

    Returns
    -------
    dict
        JSON-serialisable medians, rows/s, the ratio to the ceiling, peak RSS and raw runs.
    """
    import boto3

    from benchmarks.server import start_bench_postgres
    from common.config import PipelineResources
    from local.aws_resources import provision
    from local.generator import seed_database
    from local.moto_server import REGION, start_moto
    from local.stack import SOURCE_ROLE, create_source_database

    root = LOCAL_DIR / "bench" / f"ingestion-{os.getpid()}"
    server = start_bench_postgres(root / "pg")
    moto = None
    try:
        reader_pw = uuid.uuid4().hex
        create_source_database(server, "totesys", reader_pw)
        admin = server.connect("totesys")
        t0 = time.perf_counter()
        counts = seed_database(admin, seed=seed, scale=SCALES[scale] if scale in SCALES else float(scale))
        seed_s = time.perf_counter() - t0
        admin.close()
        moto = start_moto(detached=True)
        creds = server.credentials("totesys", SOURCE_ROLE, reader_pw)
        fake = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}  # moto only
        clients = {
            n: boto3.client(n, region_name=REGION, endpoint_url=moto.endpoint, **fake)
            for n in ("s3", "ssm", "secretsmanager")
        }

        def fresh_env() -> dict[str, str]:
            resources = PipelineResources.for_prefix(f"b{uuid.uuid4().hex[:8]}")
            provision(s3=clients["s3"], ssm=clients["ssm"], secretsmanager=clients["secretsmanager"],
                      resources=resources, source=creds, warehouse=creds)  # fmt: skip
            return {**os.environ, **moto.env(), **resources.handler_env(),
                    _CONFIG_ENV: json.dumps({"source": creds.__dict__}), "POWERTOOLS_METRICS_NAMESPACE": "Bench",
                    "POWERTOOLS_LOG_LEVEL": "WARNING"}  # fmt: skip

        # The no-change pipeline: one full first run of all tables, then runs with no change.
        steady = fresh_env()
        _spawn("no_change", steady)
        runs: dict[str, list[dict[str, Any]]] = {"ceiling": [], "first_extraction": [], "no_change": []}
        for _ in range(repeats):
            runs["ceiling"].append(_spawn("ceiling", fresh_env()))
            runs["first_extraction"].append(_spawn("first_extraction", fresh_env(), moto.pid))
            runs["no_change"].append(_spawn("no_change", steady))
    finally:
        if moto is not None:
            moto.stop()
        server.stop()
        shutil.rmtree(root, ignore_errors=True)

    med = {k: statistics.median(r["seconds"] for r in v) for k, v in runs.items()}
    loads = [r["loadavg_1m"] for v in runs.values() for r in v]
    n = counts["sales_order"]
    return {
        "benchmark": "ingestion",
        "command": f"python -m benchmarks.bench_ingestion --scale {scale} --repeats {repeats}",
        "sales_orders": n,
        "rows_all_tables": sum(counts.values()),
        "seed_s": round(seed_s, 1),
        "median_ceiling_s": round(med["ceiling"], 3),
        "median_first_extraction_s": round(med["first_extraction"], 3),
        "median_no_change_s": round(med["no_change"], 3),
        "median_no_change_cold_s": round(statistics.median(r["cold_seconds"] for r in runs["no_change"]), 3),
        "ceiling_rows_per_s": round(n / med["ceiling"]),
        "first_extraction_rows_per_s": round(n / med["first_extraction"]),
        "ratio_first_extraction_to_ceiling": round(med["first_extraction"] / med["ceiling"], 2),
        "peak_rss_mib_first_extraction": round(max(r["peak_rss_mib"] for r in runs["first_extraction"]), 1),
        "peak_rss_mib_ceiling": round(max(r["peak_rss_mib"] for r in runs["ceiling"]), 1),
        **{f"median_{k}_{m}": _median(runs[k], m) for k in ("ceiling", "first_extraction") for m in _CPU_FIGURES},
        "loadavg_1m_range": [min(loads), max(loads)],
        "runs": runs,
    }


_CPU_FIGURES = ("cpu_s", "backend_cpu_s", "moto_cpu_s")


def _median(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return round(statistics.median(values), 2) if values else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", default="1m")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", choices=("ceiling", "first_extraction", "no_change"))
    parser.add_argument("--profile", action="store_true", help="child only: cProfile to stderr")
    args = parser.parse_args(argv)
    if args.child:
        if args.profile:
            import cProfile
            import pstats

            with cProfile.Profile() as prof:
                out = _child(args.child)
            pstats.Stats(prof, stream=sys.stderr).sort_stats("cumulative").print_stats(25)
        else:
            out = _child(args.child)
        print(json.dumps(out))
        return 0
    print(json.dumps(run(args.scale, args.repeats), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
