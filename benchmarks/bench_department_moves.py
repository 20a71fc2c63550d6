"""What a department change costs the load and the fold, side by side on copies of one warehouse.

A simulated batch renames a department and moves a staff member; the load's dimension upsert
changes ``dim_staff``. Up to migration 025 its trigger regrouped ``analytics.department_summary``
in that statement; from 026 the trigger only queues the change and the fold applies it. Each
sample is, in a new session (as each load's and each fold's is), one ``UPDATE dim_staff``
(the load's part) then ``SELECT analytics.refresh_summaries()`` (the fold's part, which also
folds whatever batch the copy has pending), rolled back: a department renamed (its largest), a
staff member moved into it from another, both in one statement (the rename while someone
joins), and no change at all (the fold alone, the baseline). Backend CPU from
``/proc/<pid>/schedstat``, wall from the client. The databases are taken in turn, round after
round (reversed every other round), so the machine's load falls on each alike. Nothing is kept.

Run (docs/benchmarks.md, "Department changes queued for the fold"), on copies of a loaded
warehouse (``benchmarks/lagging_warehouse.py`` builds one; ``CREATE DATABASE ... TEMPLATE``),
one migrated further::

    .venv/bin/python -m benchmarks.bench_department_moves --server server.json --rounds 5 old new

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

from pg8000.native import literal

from benchmarks.bench_first_fold import schedstat_cpu_s
from benchmarks.server import server_json_connector

RENAMED = "Renamed by the bench"


def statements(con: Any) -> dict[str, str]:
    """The UPDATEs on this warehouse: its largest department and one staff member of the next."""
    (largest, _), (other, _) = con.run(
        "SELECT department_name, count(*) FROM dim_staff GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 2"
    )
    joiner = con.run("SELECT min(staff_id) FROM dim_staff WHERE department_name = :d", d=other)[0][0]
    return {  # the names are the warehouse's own, quoted as literals
        "none": "SELECT 1",
        "rename": f"UPDATE dim_staff SET department_name = '{RENAMED}' WHERE department_name = {literal(largest)}",
        "move": f"UPDATE dim_staff SET department_name = {literal(largest)} WHERE staff_id = {int(joiner)}",
        "rename_and_join": f"UPDATE dim_staff SET department_name = '{RENAMED}'"
        f" WHERE department_name = {literal(largest)} OR staff_id = {int(joiner)}",
    }


def once(connect_db: Any, name: str) -> dict[str, Any]:
    con = connect_db()
    try:
        sql = statements(con)[name]
        pid = con.run("SELECT pg_backend_pid()")[0][0]
        con.run("BEGIN")
        load = os.getloadavg()[0]
        sample: dict[str, Any] = {"loadavg": round(load, 1)}
        for part, statement in (("load", sql), ("fold", "SELECT analytics.refresh_summaries()")):
            cpu, wall = schedstat_cpu_s(pid), time.perf_counter()
            con.run(statement)
            sample[f"{part}_cpu_s"] = round(schedstat_cpu_s(pid) - cpu, 4)
            sample[f"{part}_wall_s"] = round(time.perf_counter() - wall, 4)
        con.run("ROLLBACK")
    finally:
        con.close()
    return sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", type=Path, required=True, help="JSON: host, port, user, password, ca")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("databases", nargs="+")
    args = parser.parse_args()
    connector = server_json_connector(args.server, "bench-department-moves")
    names = ("none", "rename", "move", "rename_and_join")
    samples: dict[str, dict[str, list[dict[str, Any]]]] = {db: {n: [] for n in names} for db in args.databases}
    for i in range(args.rounds):
        for db in args.databases if i % 2 == 0 else args.databases[::-1]:
            for name in names:
                samples[db][name].append(once(connector(db), name))
        print(i, {db: {n: (s[n][-1]["load_cpu_s"], s[n][-1]["fold_cpu_s"]) for n in names}
                  for db, s in samples.items()}, file=sys.stderr)  # fmt: skip
    medians = {
        db: {
            n: {k: statistics.median(x[k] for x in runs[n]) for k in ("load_cpu_s", "fold_cpu_s", "load_wall_s",
                                                                      "fold_wall_s", "loadavg")}
            for n in names
        }
        for db, runs in samples.items()
    }  # fmt: skip
    print(json.dumps({"rounds": args.rounds, "medians": medians, "samples": samples}, indent=2))


if __name__ == "__main__":
    main()
