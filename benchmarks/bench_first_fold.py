"""The analytics fold from zero (a first load's, a rebuild's), side by side on copies of one warehouse.

Each sample is one rolled-back transaction on a database: every fact's summaries cleared with
``analytics.clear_summaries(fact, 'truncate')`` (what a first load starts from), then
``analytics.refresh_summaries()``; the backend CPU of the session (``/proc/<pid>/stat``: the
server runs on this machine), wall time, load average, and each analytics function's time
(``track_functions``, hence a superuser). The databases are taken in turn, round after round,
so the machine's load falls on each alike. Nothing is kept: the warehouse is as before.

Run (docs/benchmarks.md, "The first fold's cost (migration 016)"), on a server holding two
copies of one loaded warehouse (``CREATE DATABASE ... TEMPLATE``), one migrated further::

    .venv/bin/python -m benchmarks.bench_first_fold --server server.json --rounds 3 ff_old ff_new

``--batch``: a pipeline cycle's fold instead (docs/benchmarks.md, "A cycle's fold (migration
023)"), on copies of a warehouse whose last run was loaded without its fold (its summaries
lag that run): nothing is cleared; each sample is a new session, as each load's is (catalog
caches, compiled functions and plans start cold), and the same fold is timed again after a
rollback to a savepoint in the same transaction (``warm_backend_cpu_s``). CPU here is read
from ``/proc/<pid>/schedstat`` (nanoseconds; ``/proc/<pid>/stat`` counts 10 ms ticks).

``server.json``: ``{"host", "port", "user", "password", "ca"}`` of a superuser over TLS.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from benchmarks.measure import proc_cpu_s
from benchmarks.server import server_json_connector

FACTS = ("fact_sales_order", "fact_purchase_order", "fact_payment")
FUNCTIONS_SQL = (
    "SELECT funcname, round(total_time)::int, round(self_time)::int FROM pg_stat_xact_user_functions"
    " WHERE schemaname = 'analytics' ORDER BY total_time DESC"
)


def fold_once(con: Any) -> dict[str, Any]:
    pid = con.run("SELECT pg_backend_pid()")[0][0]
    con.run("BEGIN")
    try:
        con.run("SET LOCAL track_functions = 'all'")
        for fact in FACTS:
            con.run("SELECT analytics.clear_summaries(:f, 'truncate')", f=fact)
        load = os.getloadavg()[0]
        cpu, wall = proc_cpu_s(pid), time.perf_counter()
        con.run("SELECT analytics.refresh_summaries()")
        sample = {
            "backend_cpu_s": round(proc_cpu_s(pid) - cpu, 2),
            "wall_s": round(time.perf_counter() - wall, 2),
            "loadavg": [round(load, 1), round(os.getloadavg()[0], 1)],
            "functions_ms_total_self": {name: [total, own] for name, total, own in con.run(FUNCTIONS_SQL)},
        }
    finally:
        con.run("ROLLBACK")
    return sample


def schedstat_cpu_s(pid: int) -> float:
    """CPU-seconds of a local process from ``/proc/<pid>/schedstat`` (ns; a batch's fold is tens of ms)."""
    with open(f"/proc/{pid}/schedstat", encoding="ascii") as stat:
        return int(stat.read().split()[0]) / 1e9


def batch_fold_once(connect_db: Any) -> dict[str, Any]:
    """The fold of what the summaries lack, in a new session, rolled back; then again, warm."""
    con = connect_db()
    try:
        pid = con.run("SELECT pg_backend_pid()")[0][0]
        con.run("BEGIN")
        con.run("SAVEPOINT cold")
        load = os.getloadavg()[0]
        cpu, wall = schedstat_cpu_s(pid), time.perf_counter()
        con.run("SELECT analytics.refresh_summaries()")
        cold_cpu, cold_wall = schedstat_cpu_s(pid) - cpu, time.perf_counter() - wall
        con.run("ROLLBACK TO SAVEPOINT cold")
        cpu = schedstat_cpu_s(pid)
        con.run("SELECT analytics.refresh_summaries()")
        warm_cpu = schedstat_cpu_s(pid) - cpu
        con.run("ROLLBACK")
    finally:
        con.close()
    return {
        "backend_cpu_s": round(cold_cpu, 4),
        "wall_s": round(cold_wall, 4),
        "warm_backend_cpu_s": round(warm_cpu, 4),
        "loadavg": [round(load, 1), round(os.getloadavg()[0], 1)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", type=Path, required=True, help="JSON: host, port, user, password, ca")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", action="store_true", help="Fold what the summaries lack (a cycle's batch).")
    parser.add_argument("databases", nargs="+")
    args = parser.parse_args()
    connector = server_json_connector(args.server, "bench-first-fold")
    cons = {db: connector(db) if args.batch else connector(db)() for db in args.databases}
    samples: dict[str, list[dict[str, Any]]] = {db: [] for db in args.databases}
    for i in range(args.rounds):
        for db, con in cons.items() if i % 2 == 0 or not args.batch else list(cons.items())[::-1]:
            samples[db].append(batch_fold_once(con) if args.batch else fold_once(con))
            print(db, samples[db][-1]["backend_cpu_s"], samples[db][-1]["loadavg"], file=sys.stderr, flush=True)
    out: dict[str, Any] = {"rounds": args.rounds, "batch": args.batch}
    for key in ("backend_cpu_s", "warm_backend_cpu_s", "wall_s"):
        if args.batch or key != "warm_backend_cpu_s":
            out[f"median_{key}"] = {db: statistics.median(s[key] for s in runs) for db, runs in samples.items()}
    print(json.dumps(out | {"samples": samples}, indent=2))


if __name__ == "__main__":
    main()
