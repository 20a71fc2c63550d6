"""Reconcile benchmark: ``ops.reconcile`` (range hashes) against the reconcile it replaced, side by side.

One throwaway PostgreSQL (fsync off) and moto under ``.local/bench-reconcile``: totesys is
seeded by the generator, one ingestion + transform run makes processed run 1 and
``run_load`` loads it, so the warehouse is exactly right. Then, interleaved (new, old,
new, ...), each reconcile runs in a fresh child process, the new one ``repeats`` times, the
old one ``baseline_repeats`` times (default once at 1m: it takes minutes): wall seconds,
the child's CPU seconds, both PostgreSQL backends' CPU seconds and the child's peak RSS
(VmHWM), and the verdict (it must pass). The *old* reconcile is ``src/ops/reconcile.py``
as of ``BASELINE_COMMIT`` (read with ``git show``: it reads both databases whole into
Python). Last, one warehouse row is corrupted, one deleted and one added, and the new
reconcile must name exactly those three (``corrupted``: its time and peak RSS too).
The targets (issue 16: <= 300 MB peak RSS, <= 60 s at 1m) are recorded as met or not.

Run: ``.venv/bin/python -m benchmarks.bench_reconcile --scale 1m --repeats 3``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import statistics
import subprocess  # nosec B404 - runs git and this module as a child, with list arguments
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from benchmarks.measure import peak_rss_mib, proc_cpu_s
from local.paths import LOCAL_DIR

SCALES = {"small": 2.0, "100k": 20.0, "1m": 200.0}  # generator scale: 200 = 1,000,000 sales orders
BASELINE_COMMIT = "b7faaa8"  # the last commit with the reconcile that read both databases whole
TARGET_RSS_MIB, TARGET_S = 300 / 1.048576, 60.0  # 300 MB
_CONFIG_ENV = "BENCH_RECONCILE_CONFIG"  # passwords travel in the environment, not argv
CORRUPTION = (
    "UPDATE fact_sales_order SET units_sold = units_sold + 1 WHERE sales_record_id ="
    " (SELECT max(sales_record_id) FROM fact_sales_order WHERE sales_order_id = {a})",
    "DELETE FROM fact_sales_order WHERE sales_order_id = {b}",
    "INSERT INTO fact_sales_order (sales_order_id, created_date, created_time, last_updated_date, last_updated_time,"
    " sales_staff_id, counterparty_id, units_sold, unit_price, currency_id, design_id, agreed_payment_date,"
    " agreed_delivery_date, agreed_delivery_location_id) SELECT {c}, created_date, created_time, last_updated_date,"
    " last_updated_time, sales_staff_id, counterparty_id, units_sold, unit_price, currency_id, design_id,"
    " agreed_payment_date, agreed_delivery_date, agreed_delivery_location_id FROM fact_sales_order"
    " WHERE sales_order_id = {a} LIMIT 1",
)


# -- child: one reconcile -----------------------------------------------------------------


def _old_reconcile(workdir: Path) -> Any:
    """The baseline's ``reconcile`` function, from git (benchmarks only: never imported by src)."""
    text = subprocess.run(  # nosec B603 B607
        ["git", "show", f"{BASELINE_COMMIT}:src/ops/reconcile.py"], capture_output=True, text=True, check=True
    ).stdout
    (workdir / "reconcile_before.py").write_text(text)
    sys.path.insert(0, str(workdir))
    import reconcile_before  # type: ignore[import-not-found]

    return reconcile_before.reconcile


def _child(which: str) -> dict[str, Any]:
    from common.db import DbCredentials, connect

    config = json.loads(os.environ[_CONFIG_ENV])
    with tempfile.TemporaryDirectory() as tmp:
        if which == "old":
            compare = _old_reconcile(Path(tmp))
        else:
            from ops.reconcile import reconcile as compare
        src = connect(DbCredentials(**config["source"]), "bench-reconcile", timeout=600)
        wh = connect(DbCredentials(**config["warehouse"]), "bench-reconcile", timeout=600)
        pids = [con.run("SELECT pg_backend_pid()")[0][0] for con in (src, wh)]
        backend0, cpu0, t0 = sum(proc_cpu_s(p) for p in pids), time.process_time(), time.perf_counter()
        report = compare(src, wh)
        seconds = time.perf_counter() - t0
        out = {
            "s": round(seconds, 3),
            "client_cpu_s": round(time.process_time() - cpu0, 3),
            "backends_cpu_s": round(sum(proc_cpu_s(p) for p in pids) - backend0, 3),
            "peak_rss_mib": round(peak_rss_mib(), 1),
            "loadavg": os.getloadavg()[0],
            "ok": report.ok,
            "summary": report.summary(),
            "differences": [d.describe() for d in report.differences[:10]],
        }
        src.close()
        wh.close()
    return out


def _spawn(env: dict[str, str], which: str) -> dict[str, Any]:
    proc = subprocess.run(  # nosec B603
        [sys.executable, "-m", "benchmarks.bench_reconcile", "--child", which],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"reconcile child ({which}) failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- parent ------------------------------------------------------------------------------


def _build_warehouse(server: Any, moto: Any, scale: float, seed: int) -> dict[str, Any]:
    """Seed totesys, make processed run 1 and load it: the warehouse is then exactly right."""
    from benchmarks.server import in_process_pipeline
    from common.db import connect
    from load.run import run_load
    from local.generator import seed_database
    from local.stack import WAREHOUSE_ROLE, create_source_database, create_warehouse_database

    src_pw, loader_pw, reader_pw = (uuid.uuid4().hex for _ in range(3))
    create_source_database(server, "totesys", src_pw)
    create_warehouse_database(server, "warehouse", loader_pw, reader_pw)
    admin = server.connect("totesys")
    seeded = seed_database(admin, seed=seed, scale=scale)
    admin.close()
    source = server.credentials("totesys", "totes_reader", src_pw)
    warehouse = server.credentials("warehouse", WAREHOUSE_ROLE, loader_pw)
    pipeline = in_process_pipeline(moto, "br", source=source, warehouse=warehouse)
    pipeline.cycle()
    with contextlib.redirect_stdout(io.StringIO()):  # the load's EMF metric lines
        con = connect(warehouse, "bench-reconcile", timeout=3600)  # one 1m load statement outlasts 30 s here
        run_load(pipeline.processed, con)
        con.close()
    return {"seeded": seeded, "source": source, "warehouse": warehouse}


def _creds(c: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(c)


def _corrupt(server: Any) -> list[str]:
    admin = server.connect("warehouse")
    a, b, c = admin.run(
        "SELECT max(sales_order_id) / 2, max(sales_order_id) / 3, max(sales_order_id) + 7 FROM fact_sales_order"
    )[0]
    for sql in CORRUPTION:
        admin.run(sql.format(a=int(a), b=int(b), c=int(c)))
    admin.close()
    return [f"sales_order_id={a}", f"sales_order_id={b}", f"sales_order_id={c}"]


def _summary(samples: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "s_median": statistics.median(s["s"] for s in samples),
        "peak_rss_mib_max": max(s["peak_rss_mib"] for s in samples),
        "client_cpu_s_median": statistics.median(s["client_cpu_s"] for s in samples),
        "backends_cpu_s_median": statistics.median(s["backends_cpu_s"] for s in samples),
        "all_ok": all(s["ok"] for s in samples),
        "samples": samples,
    }


def run(scale: str = "small", repeats: int = 3, seed: int = 42, baseline_repeats: int | None = None) -> dict[str, Any]:
    """Measure; start and stop the servers; medians, every sample, and whether the targets were met."""
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    from benchmarks.server import bench_servers

    root = LOCAL_DIR / "bench-reconcile"
    shutil.rmtree(root, ignore_errors=True)
    # The old reconcile takes minutes at 1m on a busy machine: make bench runs it once there.
    if baseline_repeats is None:
        baseline_repeats = 1 if scale == "1m" else repeats
    out: dict[str, Any] = {"scale": scale, "generator_scale": SCALES[scale], "repeats": repeats}
    out["baseline_repeats"] = baseline_repeats
    with bench_servers(root / "pg") as (server, moto):
        t0 = time.perf_counter()
        built = _build_warehouse(server, moto, SCALES[scale], seed)
        out["setup_s"], out["seeded"] = round(time.perf_counter() - t0, 1), built["seeded"]
        env = {**os.environ, _CONFIG_ENV: json.dumps({k: _creds(built[k]) for k in ("source", "warehouse")})}
        samples: dict[str, list[dict[str, Any]]] = {"new": [], "old": []}
        for i in range(repeats):
            for which in ("new", "old") if i % 2 == 0 else ("old", "new"):
                if which == "new" or i < baseline_repeats:
                    samples[which].append(_spawn(env, which))
                    print(f"{which} {i + 1}/{repeats}: {samples[which][-1]['s']} s", file=sys.stderr, flush=True)
        out["new"] = _summary(samples["new"])
        out["old"] = _summary(samples["old"]) if samples["old"] else None
        named = _corrupt(server)
        out["corrupted"] = _spawn(env, "new")
        found = out["corrupted"]["differences"]
        out["corrupted"]["named_all_three"] = len(found) == 3 and all(any(f"[{k}]" in d for d in found) for k in named)
        out["targets"] = {
            "peak_rss_mib_max": TARGET_RSS_MIB,
            "s": TARGET_S,
            "rss_met": out["new"]["peak_rss_mib_max"] <= TARGET_RSS_MIB,
            "time_met": out["new"]["s_median"] <= TARGET_S,
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--baseline-repeats", type=int, help="Runs of the old reconcile (default: 1 at 1m, else --repeats)."
    )
    parser.add_argument("--child", choices=("new", "old"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.child), default=str))
        return 0
    print(json.dumps(run(args.scale, args.repeats, baseline_repeats=args.baseline_repeats), indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
