"""Benchmark: the whole pipeline, end to end, through the real handlers and S3 events.

One measurement ("a life") runs in a fresh child process against a fresh copy of a
generated totesys and an empty warehouse, with the three handlers registered in moto
and wired like ``terraform/events.tf``; ``ops.runner.PipelineRunner`` plays the
schedule and the S3 notifications exactly as in ``make run``:

* ``initial``: the first cycle (full snapshot: ingestion -> transform -> load), with
  per stage wall time, rows and rows/s, and the peak RSS while that stage ran;
* ``incremental``: then ``incremental_cycles`` times: one batch of simulated source
  changes (``local.simulator``, one transaction stamped ``now``), immediately one
  cycle. Per cycle: per-stage times, the cycle's wall time (ingestion start -> load
  end) and the **change-to-warehouse latency**: load end minus the batch's
  ``last_updated``, i.e. how long after the source change its rows were visible in
  the warehouse when the schedule fires right after the change. In production add the
  schedule interval (the wait for the next trigger) to get the freshness bound.
* at the end, ``ops.reconcile`` must pass (a fast wrong pipeline is no result).

Peak RSS per stage: the stages share the child process (as ``make run`` does), so a
sampler thread reads VmRSS every 5 ms and each stage gets the maximum seen while it ran
(memory an earlier stage kept counts too: an upper bound; ``rss_at_start_mib`` is what
the process held when the stage began). What one stage's own Lambda would need is
estimated as ``own_rss_estimate_mib`` = ``import_rss_mib`` (a fresh interpreter that
imported only that stage's handler, as a Lambda's init phase does) + ``rss_growth_mib``
(the stage's peak minus ``rss_at_start_mib``): not a bound either way (memory an earlier
stage freed but the allocators kept can be reused without growth), but the stage's own
figure where the upper bound mixes the stages. ``peak_rss_mib_pipeline`` is the child's VmHWM
after the cycles, ``peak_rss_mib`` after the final reconcile too. CPU per stage (the
machine is shared, so wall time is noisy): ``cpu_s`` is this process's CPU (every
thread) while the stage ran, ``server_cpu_s`` the PostgreSQL server's (source and
warehouse share it: the source's COPY for ingestion, the warehouse's for load); both
are sampled every 20 ms. ``largest_ingest_object_mib``: the biggest object the initial
ingestion wrote, which is what it spooled on ``/tmp`` at once (one table at a time,
``ingestion.spool``): the ephemeral storage it needs.
Every figure is a median of ``repeats`` lives.

``--snapshot-rows N[,M...]`` (issue 16): one set of lives per ``SNAPSHOT_ROWS_PER_RUN``
budget, on the same seeded source; the initial load is then every cycle until the first
snapshot is complete (``initial_runs``: per run, per stage rows, CPU-s and peak RSS;
``initial``: their totals, the peak RSS the largest). Between two such runs the child
returns freed memory to the system (``malloc_trim``, Arrow's pool), as a Lambda process
that served one run and then waits holds no more than it needs; per-run RSS is still an
upper bound (the three stages share the process).

Usage::

    .venv/bin/python -m benchmarks.bench_e2e --scale small --repeats 3
    .venv/bin/python -m benchmarks.bench_e2e --scale 5m --repeats 1 --cycles 1   # ~22M rows: opt-in
    .venv/bin/python -m benchmarks.bench_e2e --scale 1m --repeats 1 --cycles 1 --snapshot-rows 1000000000,1000000
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess  # nosec B404 - runs this module as a child with list arguments
import sys
import threading
import time
import uuid
import zipfile
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from benchmarks.measure import cpu_s, peak_rss_mib, server_cpu_s, status_mib
from local.paths import LOCAL_DIR

# Generator scale: 200 = 1,000,000 sales orders; 5m (~22M rows) only when asked (benchmarks/run.py).
SCALES = {"small": 2.0, "100k": 20.0, "1m": 200.0, "5m": 1000.0}
MAX_SNAPSHOT_RUNS = 200
_CONFIG_ENV = "BENCH_E2E_CONFIG"  # passwords travel in the environment, not argv
HANDLERS = {
    "ingestion": "ingestion.handler.lambda_handler",
    "transform": "transform.handler.lambda_handler",
    "load": "load.handler.lambda_handler",
}


# -- child: one life of the pipeline ------------------------------------------------------


class RssSampler:
    """Samples this process's RSS (every 5 ms), its CPU and the server's (every 20 ms) in a
    thread; ``peak(t0, t1)`` = max RSS seen in [t0, t1], ``cpu(t0, t1)`` the CPU spent in it."""

    def __init__(self, postmaster: int | None = None, interval_s: float = 0.005) -> None:
        self.samples: list[tuple[float, float]] = []
        self.cpu_samples: list[tuple[float, float, float]] = []  # (time, own CPU, server CPU)
        self._postmaster = postmaster
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, args=(interval_s,), daemon=True)

    def _loop(self, interval_s: float) -> None:
        tick = 0
        while not self._stop.is_set():
            now = time.time()
            self.samples.append((now, status_mib("VmRSS")))
            if tick % 4 == 0:
                server = server_cpu_s(self._postmaster) if self._postmaster else 0.0
                self.cpu_samples.append((now, cpu_s(), server))
            tick += 1
            self._stop.wait(interval_s)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def peak(self, t0: float, t1: float) -> float:
        return max((rss for t, rss in self.samples if t0 <= t <= t1), default=0.0)

    def at(self, t0: float) -> float:
        """RSS at the last sample before ``t0``."""
        return next((rss for t, rss in reversed(self.samples) if t <= t0), 0.0)

    def cpu(self, t0: float, t1: float) -> tuple[float, float]:
        """(own, server) CPU seconds between the samples bracketing [t0, t1]."""
        before = next((c for c in reversed(self.cpu_samples) if c[0] <= t0), self.cpu_samples[0])
        after = next((c for c in self.cpu_samples if c[0] >= t1), self.cpu_samples[-1])
        return after[1] - before[1], after[2] - before[2]


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("placeholder.py", "")
    return buf.getvalue()


def deploy_handlers(config: dict[str, Any]) -> Any:
    """Provision buckets/SSM/secrets, register the handlers, wire the notifications."""
    import boto3

    from common.config import PipelineResources
    from common.db import DbCredentials
    from local.aws_resources import provision
    from local.moto_server import REGION
    from ops.runner import PipelineRunner

    source, warehouse = DbCredentials(**config["source"]), DbCredentials(**config["warehouse"])
    clients = {n: boto3.client(n, region_name=REGION) for n in ("s3", "ssm", "secretsmanager", "iam", "lambda")}
    name = f"b{uuid.uuid4().hex[:8]}"
    res = PipelineResources.for_prefix(name)
    provision(s3=clients["s3"], ssm=clients["ssm"], secretsmanager=clients["secretsmanager"], resources=res,
              source=source, warehouse=warehouse)  # fmt: skip
    role = clients["iam"].create_role(RoleName=f"role-{name}", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    arns = {}
    for stage, handler in HANDLERS.items():
        arns[stage] = clients["lambda"].create_function(
            FunctionName=f"{name}-{stage}", Runtime="python3.11", Role=role, Handler=handler,
            Code={"ZipFile": _zip()}, Timeout=900, MemorySize=3008, Environment={"Variables": res.handler_env()},
        )["FunctionArn"]  # fmt: skip
    for bucket, stage in ((res.ingest_bucket, "transform"), (res.processed_bucket, "load")):
        rules = [{"Name": "prefix", "Value": "runs/"}, {"Name": "suffix", "Value": ".json"}]
        lambda_config = {"Id": stage, "LambdaFunctionArn": arns[stage], "Events": ["s3:ObjectCreated:*"],
                         "Filter": {"Key": {"FilterRules": rules}}}  # fmt: skip
        clients["s3"].put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration={"LambdaFunctionConfigurations": [lambda_config]}
        )
    return PipelineRunner(
        s3=clients["s3"], lambda_client=clients["lambda"], ingestion_function=f"{name}-ingestion",
        buckets=[res.ingest_bucket, res.processed_bucket], region=REGION, retries=0, log_sink=io.StringIO(),
    )  # fmt: skip


def _stage_rows(stage: str, result: dict[str, Any]) -> int:
    if stage == "ingestion":
        return int(result.get("rows", 0))
    if stage == "transform":
        return int(result.get("rows_out", 0))
    return int(result.get("rows_loaded", 0))


def _measure_cycle(runner: Any, sampler: RssSampler) -> dict[str, Any]:
    """One cycle; per stage seconds, rows, rows/s and peak RSS; the cycle's wall time; and
    ``snapshot_pending``: the tables whose first snapshot continues in the next run."""
    t0 = time.time()
    cycle = runner.run_cycle()
    t1 = time.time()
    if not cycle.ok:
        raise RuntimeError(f"cycle failed: {[(i.function, i.error) for i in cycle.failures]}")
    stages: dict[str, dict[str, Any]] = {}
    load_end, pending = t0, {}
    for inv in cycle.invocations:
        stage = inv.function.rsplit("-", 1)[1]
        start = inv.started_at.timestamp()
        entry = stages.setdefault(
            stage, {"seconds": 0.0, "rows": 0, "invocations": 0, "peak_rss_mib": 0.0, "cpu_s": 0.0,
                    "server_cpu_s": 0.0, "rss_at_start_mib": sampler.at(start)},
        )  # fmt: skip
        entry["seconds"] += inv.duration_s
        entry["rows"] += _stage_rows(stage, inv.result or {})
        entry["invocations"] += 1
        entry["peak_rss_mib"] = max(entry["peak_rss_mib"], sampler.peak(start, start + inv.duration_s))
        own, server = sampler.cpu(start, start + inv.duration_s)
        entry["cpu_s"] += own
        entry["server_cpu_s"] += server
        if stage == "load":
            load_end = max(load_end, start + inv.duration_s)
        if stage == "ingestion":
            pending = (inv.result or {}).get("snapshot_pending", {})
    for entry in stages.values():
        entry["rows_per_s"] = round(entry["rows"] / entry["seconds"]) if entry["seconds"] else None
        rows = entry["rows"] or 1
        entry["cpu_s_per_1m_rows"] = round(1e6 * entry["cpu_s"] / rows, 3)
        entry["server_cpu_s_per_1m_rows"] = round(1e6 * entry["server_cpu_s"] / rows, 3)
        for key in ("seconds", "cpu_s", "server_cpu_s"):
            entry[key] = round(entry[key], 3)
        entry["rss_growth_mib"] = round(max(entry["peak_rss_mib"] - entry["rss_at_start_mib"], 0.0), 1)
        entry["peak_rss_mib"] = round(entry["peak_rss_mib"], 1)
        entry["rss_at_start_mib"] = round(entry["rss_at_start_mib"], 1)
    return {"cycle_seconds": round(t1 - t0, 3), "load_end": load_end, "stages": stages, "snapshot_pending": pending}


def _release_memory() -> None:
    """Give freed memory back to the system between two runs (glibc's arenas, Arrow's pool)."""
    import ctypes
    import gc

    import pyarrow as pa

    gc.collect()
    pa.default_memory_pool().release_unused()
    ctypes.CDLL("libc.so.6").malloc_trim(0)


def _total(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Several runs' cycles as one initial load: seconds, rows and CPU summed, the peak RSS the largest."""
    stages: dict[str, dict[str, Any]] = {}
    for run in runs:
        for stage, entry in run["stages"].items():
            total = stages.setdefault(stage, {"seconds": 0.0, "rows": 0, "invocations": 0, "cpu_s": 0.0,
                                              "server_cpu_s": 0.0, "peak_rss_mib": 0.0,
                                              "rss_at_start_mib": entry["rss_at_start_mib"]})  # fmt: skip
            for key in ("seconds", "rows", "invocations", "cpu_s", "server_cpu_s"):
                total[key] += entry[key]
            total["peak_rss_mib"] = max(total["peak_rss_mib"], entry["peak_rss_mib"])
            total["rss_growth_mib"] = max(total.get("rss_growth_mib", 0.0), entry.get("rss_growth_mib", 0.0))
    for total in stages.values():
        rows = total["rows"] or 1
        total["rows_per_s"] = round(total["rows"] / total["seconds"]) if total["seconds"] else None
        total["cpu_s_per_1m_rows"] = round(1e6 * total["cpu_s"] / rows, 3)
        total["server_cpu_s_per_1m_rows"] = round(1e6 * total["server_cpu_s"] / rows, 3)
        for key in ("seconds", "cpu_s", "server_cpu_s"):
            total[key] = round(total[key], 3)
    return {"cycle_seconds": round(sum(r["cycle_seconds"] for r in runs), 3), "stages": stages, "runs": len(runs)}


def _largest_ingest_object_mib(runner: Any) -> dict[str, Any]:
    """The biggest data object in the ingest bucket (after the first cycle: a table's snapshot)."""
    pages = runner.s3.get_paginator("list_objects_v2").paginate(Bucket=runner.buckets[0], Prefix="data/")
    biggest = max((o for page in pages for o in page.get("Contents", [])), key=lambda o: o["Size"], default=None)
    if biggest is None:
        return {"key": None, "mib": 0.0}
    return {"key": biggest["Key"], "mib": round(biggest["Size"] / 2**20, 1)}


def _child(incremental_cycles: int) -> dict[str, Any]:
    from common.db import DbCredentials, connect
    from local.simulator import simulate_changes
    from ops.reconcile import reconcile

    config = json.loads(os.environ[_CONFIG_ENV])
    for key, value in config["env"].items():
        os.environ[key] = value
    # Imported before timing: a Lambda's init phase is not part of its invocations.
    import ingestion.handler  # noqa: F401
    import load.handler  # noqa: F401
    import transform.handler  # noqa: F401

    runner = deploy_handlers(config)
    admin = connect(DbCredentials(**config["admin"]), "bench-e2e")
    backend = admin.run("SELECT pg_backend_pid()")[0][0]
    with open(f"/proc/{backend}/stat", encoding="ascii") as stat:
        postmaster = int(stat.read().rsplit(")", 1)[1].split()[1])  # the backend's parent
    out: dict[str, Any] = {"incremental": []}
    with RssSampler(postmaster) as sampler:
        runs = [_measure_cycle(runner, sampler)]
        while runs[-1]["snapshot_pending"]:  # a first snapshot in key ranges: until it is complete
            if len(runs) >= MAX_SNAPSHOT_RUNS:
                raise RuntimeError(f"the first snapshot did not complete in {MAX_SNAPSHOT_RUNS} runs")
            _release_memory()
            runs.append(_measure_cycle(runner, sampler))
        for r in runs:
            r.pop("load_end")
        initial = runs[0] if len(runs) == 1 else _total(runs)
        initial["largest_ingest_object_mib"] = _largest_ingest_object_mib(runner)
        out["initial"] = initial
        out["initial_runs"] = runs
        for k in range(incremental_cycles):
            report = simulate_changes(admin, seed=1000 + k)
            changed_at = report.now.replace(tzinfo=UTC).timestamp()  # naive UTC in the source
            cycle = _measure_cycle(runner, sampler)
            cycle["rows_changed"] = report.rows_changed
            cycle["change_to_warehouse_s"] = round(cycle.pop("load_end") - changed_at, 3)
            out["incremental"].append(cycle)
    # VmHWM before the check: the pipeline's own peak, not the ops tool's (reconcile read
    # both databases into Python before it hashed key ranges; see bench_reconcile).
    out["peak_rss_mib_pipeline"] = round(peak_rss_mib(), 1)
    src = connect(DbCredentials(**config["admin"]), "bench-e2e")
    wh = connect(DbCredentials(**config["warehouse_conn"]), "bench-e2e")
    verdict = reconcile(src, wh)
    out["reconcile_ok"] = verdict.ok
    out["reconcile"] = verdict.summary()
    out["peak_rss_mib"] = round(peak_rss_mib(), 1)
    return out


# -- parent --------------------------------------------------------------------------------


def _spawn(env: dict[str, str], incremental_cycles: int) -> dict[str, Any]:
    proc = subprocess.run(  # nosec B603
        [sys.executable, "-m", "benchmarks.bench_e2e", "--child", "--cycles", str(incremental_cycles)],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"e2e child failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def import_rss_mib(stage: str) -> float:
    """Peak RSS of a fresh interpreter that imported only ``stage``'s handler module (a Lambda's init)."""
    module = HANDLERS[stage].rsplit(".", 1)[0]
    code = f"import {module}; from benchmarks.measure import peak_rss_mib; print(peak_rss_mib())"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)  # nosec B603
    return round(float(proc.stdout.strip().splitlines()[-1]), 1)


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def run(
    scale: str = "small",
    repeats: int = 3,
    seed: int = 42,
    incremental_cycles: int = 3,
    snapshot_rows: tuple[int, ...] = (),
) -> dict[str, Any]:
    """Run ``repeats`` lives of the pipeline at ``scale``; medians and every raw life.

    Parameters
    ----------
    scale
        ``small`` (10k sales orders), ``100k`` or ``1m``, or a generator scale number.
    repeats
        Lives (fresh databases, fresh buckets), each with one initial cycle.
    seed
        Generator seed.
    incremental_cycles
        Change batches + cycles per life (the latency figures are medians over all).
    snapshot_rows
        ``SNAPSHOT_ROWS_PER_RUN`` budgets: ``repeats`` lives per budget on the same seeded
        source, the result keyed by budget (``budgets``); empty: the default budget, one result.
    """
    from benchmarks.server import start_bench_postgres
    from local.generator import seed_database
    from local.moto_server import start_moto
    from local.stack import SOURCE_ROLE, WAREHOUSE_ROLE, create_source_database, create_warehouse_database

    gen_scale = SCALES[scale] if scale in SCALES else float(scale)
    imports = {stage: import_rss_mib(stage) for stage in HANDLERS}
    root = LOCAL_DIR / "bench" / f"e2e-{os.getpid()}"
    server = start_bench_postgres(root / "pg")
    moto = None
    lives: dict[int | None, list[dict[str, Any]]] = {budget: [] for budget in snapshot_rows or (None,)}
    try:
        reader_pw, loader_pw = uuid.uuid4().hex, uuid.uuid4().hex
        create_source_database(server, "totesys_seeded", reader_pw)
        create_warehouse_database(server, "warehouse_empty", loader_pw)
        admin = server.connect("totesys_seeded")
        t0 = time.perf_counter()
        counts = seed_database(admin, seed=seed, scale=gen_scale)
        seed_s = time.perf_counter() - t0
        admin.close()
        moto = start_moto(detached=True)
        for budget in [b for b in lives for _ in range(repeats)]:
            moto.reset()
            tag = uuid.uuid4().hex[:8]
            src, wh = f"totesys_{tag}", f"warehouse_{tag}"
            con = server.connect()
            con.run(f'CREATE DATABASE "{src}" TEMPLATE "totesys_seeded"')
            con.run(f'CREATE DATABASE "{wh}" TEMPLATE "warehouse_empty" OWNER "{WAREHOUSE_ROLE}"')
            con.run(f'GRANT CONNECT ON DATABASE "{src}" TO "{SOURCE_ROLE}"')
            con.close()
            config = {
                "source": asdict(server.credentials(src, SOURCE_ROLE, reader_pw)),
                "warehouse": asdict(server.credentials(wh, WAREHOUSE_ROLE, loader_pw)),
                "admin": asdict(server.credentials(src)),
                "warehouse_conn": asdict(server.credentials(wh)),
                "env": {**moto.env(), "POWERTOOLS_METRICS_NAMESPACE": "BenchE2E", "POWERTOOLS_LOG_LEVEL": "WARNING",
                        **({"SNAPSHOT_ROWS_PER_RUN": str(budget)} if budget is not None else {})},
            }  # fmt: skip
            env = {**os.environ, _CONFIG_ENV: json.dumps(config)}
            lives[budget].append(_spawn(env, incremental_cycles))
            con = server.connect()
            con.run(f'DROP DATABASE "{src}" WITH (FORCE)')
            con.run(f'DROP DATABASE "{wh}" WITH (FORCE)')
            con.close()
    finally:
        if moto is not None:
            moto.stop()
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    if not snapshot_rows:
        return _summarise(scale, repeats, incremental_cycles, counts, seed_s, lives[None], imports)
    return {
        "benchmark": "e2e-snapshot-budget",
        "command": f"python -m benchmarks.bench_e2e --scale {scale} --repeats {repeats} --cycles {incremental_cycles}"
        f" --snapshot-rows {','.join(map(str, snapshot_rows))}",
        "budgets": {
            str(budget): _summarise(scale, repeats, incremental_cycles, counts, seed_s, of_budget, imports)
            for budget, of_budget in lives.items()
        },
    }


def _summarise(
    scale: str,
    repeats: int,
    cycles: int,
    counts: dict[str, int],
    seed_s: float,
    lives: list[dict[str, Any]],
    imports: dict[str, float],
) -> dict[str, Any]:
    initial: dict[str, Any] = {"cycle_seconds": _median([life["initial"]["cycle_seconds"] for life in lives])}
    for stage in HANDLERS:
        secs = [life["initial"]["stages"][stage]["seconds"] for life in lives]
        rows = lives[0]["initial"]["stages"][stage]["rows"]
        initial[stage] = {
            "seconds": _median(secs),
            "rows": rows,
            "rows_per_s": round(rows / statistics.median(secs)) if rows else None,
            "peak_rss_mib": max(life["initial"]["stages"][stage]["peak_rss_mib"] for life in lives),
            "rss_growth_mib": max(life["initial"]["stages"][stage].get("rss_growth_mib", 0.0) for life in lives),
            "import_rss_mib": imports[stage],
            "own_rss_estimate_mib": round(
                imports[stage] + max(life["initial"]["stages"][stage].get("rss_growth_mib", 0.0) for life in lives), 1
            ),
            **{
                k: _median([life["initial"]["stages"][stage].get(k, 0.0) for life in lives])
                for k in ("cpu_s", "server_cpu_s", "cpu_s_per_1m_rows", "server_cpu_s_per_1m_rows", "rss_at_start_mib")
            },
        }
    initial["largest_ingest_object_mib"] = max(
        (life["initial"].get("largest_ingest_object_mib", {}) for life in lives), key=lambda b: b.get("mib", 0.0)
    )
    cyc = [c for life in lives for c in life["incremental"]]
    incremental: dict[str, Any] = {
        "cycles": len(cyc),
        "rows_changed_median": statistics.median(c["rows_changed"] for c in cyc) if cyc else None,
        "cycle_seconds": _median([c["cycle_seconds"] for c in cyc]) if cyc else None,
        "change_to_warehouse_s": _median([c["change_to_warehouse_s"] for c in cyc]) if cyc else None,
        "change_to_warehouse_s_max": max((c["change_to_warehouse_s"] for c in cyc), default=None),
    }
    for stage in HANDLERS:
        secs = [c["stages"][stage]["seconds"] for c in cyc if stage in c["stages"]]
        rows = [c["stages"][stage]["rows"] for c in cyc if stage in c["stages"]]
        cpus = [c["stages"][stage].get("cpu_s", 0.0) for c in cyc if stage in c["stages"]]
        incremental[stage] = {
            "seconds": _median(secs) if secs else None,
            "cpu_s": _median(cpus) if cpus else None,
            "rows_median": statistics.median(rows) if rows else None,
            "peak_rss_mib": max((c["stages"][stage]["peak_rss_mib"] for c in cyc if stage in c["stages"]), default=0),
        }
    return {
        "benchmark": "e2e",
        "command": f"python -m benchmarks.bench_e2e --scale {scale} --repeats {repeats} --cycles {cycles}",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "sales_orders": counts["sales_order"],
        "rows_all_tables": sum(counts.values()),
        "seed_s": round(seed_s, 1),
        "reconcile_ok": all(life["reconcile_ok"] for life in lives),
        "initial": initial,
        "incremental": incremental,
        "peak_rss_mib": max(life["peak_rss_mib"] for life in lives),  # includes the final reconcile
        "peak_rss_mib_pipeline": max(life.get("peak_rss_mib_pipeline", 0.0) for life in lives),
        "lives": lives,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", default="small")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cycles", type=int, default=3, help="incremental cycles per life")
    parser.add_argument("--snapshot-rows", default="", help="comma list of SNAPSHOT_ROWS_PER_RUN budgets")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.cycles)))
        return 0
    budgets = tuple(int(b) for b in args.snapshot_rows.split(",") if b)
    print(json.dumps(run(args.scale, args.repeats, incremental_cycles=args.cycles, snapshot_rows=budgets), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
