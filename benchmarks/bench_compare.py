"""Benchmark: the comparison of the source with the lake (``ingestion.compare``, issue 14).

On one generated totesys (all eleven tables), with moto for S3/SSM:

1. one ingestion run taking every table's first snapshot (the comparison compares only
   tables whose first snapshot is complete), then a baseline comparison (the first: its
   state is written);
2. per repeat, side by side and each in a fresh child process: the database's floor
   (``scan``: in one read-only snapshot, every table's ``SELECT count(*)``, then the same
   tables hashed by the comparison's own expression with nothing sent back), a
   comparison when nothing differs (``none``), then 1,000 sales orders changed in place
   without touching ``last_updated`` and a comparison that finds them (``thousand``).

Each child reports its wall time (interpreter start excluded), its peak RSS, its CPU
and the CPU of its PostgreSQL backend (the hashing is the database's share), and the
1-minute load average when it started. The scan says what this machine's load does to
wall time in the same minutes: a comparison cannot take less wall than the hashing alone
(``hash_seconds``), and its CPU-seconds are what an idle machine would need. Usage::

    .venv/bin/python -m benchmarks.bench_compare --scale 1m --repeats 3
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

from benchmarks.bench_ingestion import _Backend
from benchmarks.measure import cpu_s, peak_rss_mib
from local.paths import LOCAL_DIR

SCALES = {"small": 2.0, "100k": 20.0, "1m": 200.0}  # generator scale: 200 = 1,000,000 sales orders
_CONFIG_ENV = "BENCH_COMPARE_CONFIG"  # passwords travel in the environment, not argv
CHANGED = 1000


def _child() -> dict[str, Any]:
    """One comparison through ``run_compare`` (as the handler calls it), timed inside this process."""
    import boto3

    from common.config import IngestionConfig
    from common.db import DbCredentials, connect
    from common.s3_store import LakeStore
    from common.source_tables import resolve_tables
    from ingestion.compare import DeleteGuard
    from ingestion.run import run_compare

    loadavg = os.getloadavg()[0]
    config = IngestionConfig.from_env()
    creds = DbCredentials(**json.loads(os.environ[_CONFIG_ENV])["source"])
    con = connect(creds, application_name="bench-compare")
    backend = _Backend(con)
    cpu0, start = cpu_s(), time.perf_counter()
    result = run_compare(
        store=LakeStore(config.ingest_bucket, boto3.client("s3")), ssm=boto3.client("ssm"), connection=con,
        ssm_prefix=config.ssm_prefix, tables=resolve_tables(None), guard=DeleteGuard(allow=True),
    )  # fmt: skip
    seconds = time.perf_counter() - start
    con.close()
    return {
        "seconds": seconds,
        "cpu_s": cpu_s() - cpu0,
        "backend_cpu_s": backend.cpu_s(),
        "peak_rss_mib": peak_rss_mib(),
        "loadavg_1m": loadavg,
        "source_rows": sum(result.source_rows.values()),
        "found": result.deleted + result.changed_in_place,
    }


def _ingest_child() -> dict[str, Any]:
    """Every table's first snapshot in one ingestion run (no per-run budget): the comparison's precondition."""
    import boto3

    from common.config import IngestionConfig
    from common.db import DbCredentials, connect
    from common.s3_store import LakeStore
    from common.source_tables import resolve_tables
    from ingestion.run import run_ingestion

    config = IngestionConfig.from_env()
    con = connect(DbCredentials(**json.loads(os.environ[_CONFIG_ENV])["source"]), application_name="bench-ingest")
    result = run_ingestion(
        store=LakeStore(config.ingest_bucket, boto3.client("s3")), ssm=boto3.client("ssm"), connection=con,
        ssm_prefix=config.ssm_prefix, tables=resolve_tables(None), snapshot_rows_per_run=None,
    )  # fmt: skip
    con.close()
    return {"rows": result.total_rows}


def _scan_child() -> dict[str, Any]:
    """The database's floor in one snapshot: a plain count of every table, then its content hashes."""
    from pg8000.native import identifier

    from common.db import DbCredentials, connect
    from common.source_tables import resolve_tables
    from ingestion.compare_source import content_hash_sql

    loadavg = os.getloadavg()[0]
    con = connect(DbCredentials(**json.loads(os.environ[_CONFIG_ENV])["source"]), application_name="bench-scan")
    backend = _Backend(con)
    con.run("SET max_parallel_workers_per_gather = 0")  # one backend, as the comparison's range queries use
    con.run("START TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    out: dict[str, Any] = {"loadavg_1m": loadavg}
    for kind in ("count", "hash"):
        cpu0, start = backend.cpu_s() or 0.0, time.perf_counter()
        for table in resolve_tables(None):
            what = "count(*)" if kind == "count" else f"max({content_hash_sql(table)})"
            con.run(f"SELECT {what} FROM {identifier(table.name)} AS s")  # nosec B608 - allow-listed
        out[f"{kind}_seconds"] = time.perf_counter() - start
        out[f"{kind}_backend_cpu_s"] = (backend.cpu_s() or 0.0) - cpu0
    con.run("COMMIT")
    con.close()
    return out


def _spawn(env: dict[str, str], mode: str = "--child") -> dict[str, Any]:
    proc = subprocess.run(  # nosec B603
        [sys.executable, "-m", "benchmarks.bench_compare", mode], env=env, capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"comparison child failed:\n{proc.stderr[-4000:]}")
    if os.environ.get("BENCH_COMPARE_PROFILE"):
        print(proc.stderr, file=sys.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _change_in_place(admin: Any, first: int) -> None:
    """1,000 sales orders get another price, their last_updated untouched (what only the comparison sees)."""
    admin.run(
        "UPDATE sales_order SET unit_price = unit_price + 0.01 WHERE sales_order_id >= :a AND sales_order_id < :b",
        a=first,
        b=first + CHANGED,
    )


def run(scale: str = "1m", repeats: int = 3, seed: int = 42) -> dict[str, Any]:
    """Baseline, then ``repeats`` × (nothing differs, 1,000 differ), interleaved; medians."""
    import boto3

    from benchmarks.server import start_bench_postgres
    from common.config import PipelineResources
    from local.aws_resources import provision
    from local.generator import seed_database
    from local.moto_server import REGION, start_moto
    from local.stack import SOURCE_ROLE, create_source_database

    root = LOCAL_DIR / "bench" / f"compare-{os.getpid()}"
    server = start_bench_postgres(root / "pg")
    moto = None
    try:
        reader_pw = uuid.uuid4().hex
        create_source_database(server, "totesys", reader_pw)
        admin = server.connect("totesys")
        counts = seed_database(admin, seed=seed, scale=SCALES[scale])
        moto = start_moto(detached=True)
        creds = server.credentials("totesys", SOURCE_ROLE, reader_pw)
        fake = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}  # moto only
        clients = {
            n: boto3.client(n, region_name=REGION, endpoint_url=moto.endpoint, **fake)
            for n in ("s3", "ssm", "secretsmanager")
        }
        resources = PipelineResources.for_prefix(f"b{uuid.uuid4().hex[:8]}")
        provision(s3=clients["s3"], ssm=clients["ssm"], secretsmanager=clients["secretsmanager"],
                  resources=resources, source=creds, warehouse=creds)  # fmt: skip
        env = {**os.environ, **moto.env(), **resources.handler_env(),
               _CONFIG_ENV: json.dumps({"source": creds.__dict__}),
               "POWERTOOLS_METRICS_NAMESPACE": "Bench", "POWERTOOLS_LOG_LEVEL": "WARNING"}  # fmt: skip
        ingested = _spawn(env, "--ingest-child")["rows"]
        baseline = _spawn(env)
        runs: dict[str, list[dict[str, Any]]] = {"none": [], "thousand": []}
        scans = []
        for i in range(repeats):
            scans.append(_spawn(env, "--scan-child"))
            runs["none"].append(_spawn(env))
            _change_in_place(admin, 1 + i * CHANGED)
            runs["thousand"].append(_spawn(env))
        admin.close()
        compared = {r["source_rows"] for v in runs.values() for r in v}
        found = [r["found"] for r in runs["thousand"]]
        if compared != {ingested} or found != [CHANGED] * repeats:  # a fast comparison of nothing is no result
            raise RuntimeError(f"the comparisons read {compared} of {ingested} rows and found {found} of {CHANGED}")
    finally:
        if moto is not None:
            moto.stop()
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    return _summary(scale, repeats, counts, baseline, runs, scans)


def _summary(
    scale: str,
    repeats: int,
    counts: dict[str, int],
    baseline: dict[str, Any],
    runs: dict[str, list[dict[str, Any]]],
    scans: list[dict[str, Any]],
) -> dict[str, Any]:
    def med(kind: str, key: str) -> float:
        return round(statistics.median(r[key] for r in runs[kind]), 2)

    loads = [r["loadavg_1m"] for v in [*runs.values(), scans] for r in v]
    scan = {f"median_scan_{k}": round(statistics.median(r[k] for r in scans), 2) for k in scans[0] if k != "loadavg_1m"}
    return {
        "benchmark": "compare",
        "command": f"python -m benchmarks.bench_compare --scale {scale} --repeats {repeats}",
        "sales_orders": counts["sales_order"],
        "rows_all_tables": sum(counts.values()),
        "baseline_s": round(baseline["seconds"], 2),
        **{f"median_{k}_{m}": med(k, m) for k in runs for m in ("seconds", "cpu_s", "backend_cpu_s")},
        **scan,
        "ratio_none_to_hash_scan": round(med("none", "seconds") / scan["median_scan_hash_seconds"], 2),
        "peak_rss_mib": round(max(r["peak_rss_mib"] for v in runs.values() for r in v), 1),
        "found_thousand": [r["found"] for r in runs["thousand"]],
        "ratio_thousand_to_none": round(med("thousand", "seconds") / med("none", "seconds"), 3),
        "loadavg_1m_range": [min(loads), max(loads)],
        "runs": runs,
        "scans": scans,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", choices=sorted(SCALES), default="1m")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--scan-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--ingest-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.ingest_child:
        print(json.dumps(_ingest_child()))
        return 0
    if args.scan_child:
        print(json.dumps(_scan_child()))
        return 0
    if args.child:
        if os.environ.get("BENCH_COMPARE_PROFILE"):
            import cProfile
            import pstats

            profile = cProfile.Profile()
            result = profile.runcall(_child)
            pstats.Stats(profile, stream=sys.stderr).sort_stats("cumulative").print_stats(35)
        else:
            result = _child()
        print(json.dumps(result))
        return 0
    print(json.dumps(run(args.scale, args.repeats), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
