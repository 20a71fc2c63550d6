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
from common.db import DbCredentials, connect

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", type=Path, required=True, help="JSON: host, port, user, password, ca")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("databases", nargs="+")
    args = parser.parse_args()
    server = json.loads(args.server.read_text())
    cons = {
        db: connect(
            DbCredentials(
                server.get("host", "127.0.0.1"),
                server["port"],
                server["user"],
                server["password"],
                db,
                "verify-full",
                server["ca"],
            ),
            "bench-first-fold",
        )
        for db in args.databases
    }
    samples: dict[str, list[dict[str, Any]]] = {db: [] for db in args.databases}
    for _ in range(args.rounds):
        for db, con in cons.items():
            samples[db].append(fold_once(con))
            print(db, samples[db][-1]["backend_cpu_s"], samples[db][-1]["loadavg"], file=sys.stderr, flush=True)
    medians = {db: statistics.median(s["backend_cpu_s"] for s in runs) for db, runs in samples.items()}
    print(json.dumps({"rounds": args.rounds, "median_backend_cpu_s": medians, "samples": samples}, indent=2))


if __name__ == "__main__":
    main()
