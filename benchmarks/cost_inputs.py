"""What one pipeline cycle asks of AWS: the usage figures of the monthly cost estimate.

Counted per cycle (docs/operations.md, "What it costs"): every AWS API call the three
handlers make (botocore's ``before-call`` event on the default session their clients
come from; the runner's own calls use another session and are not counted), the bytes
they print (Powertools JSON logs and EMF metric lines: what CloudWatch Logs ingests),
and how much the ingest and processed buckets grow. Cycles: the initial load; cycles
with no source change (most runs of a day); cycles right after one batch of simulated
changes (``local.simulator``). The handlers are wired as in ``benchmarks.bench_e2e``.
Counts and bytes only: the durations come from bench_e2e (docs/benchmarks.md).

Usage::

    .venv/bin/python -m benchmarks.cost_inputs --scale small
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import logging
import os
import sys
import uuid
from dataclasses import asdict
from typing import Any

from benchmarks.bench_e2e import SCALES, deploy_handlers
from local.paths import LOCAL_DIR

# The cycles measured, in order: (name, simulated change batch before it?).
CYCLES = (("initial", False), ("no_change", False), ("no_change", False), ("changes", True), ("changes", True))


def _bucket_bytes(s3: Any, bucket: str) -> int:
    pages = s3.get_paginator("list_object_versions").paginate(Bucket=bucket)
    return sum(version["Size"] for page in pages for version in page.get("Versions", []))


def measure(scale: str = "small", seed: int = 42) -> dict[str, Any]:
    """Per cycle kind: API calls by service.operation, log bytes, lake growth in bytes."""
    import boto3

    from benchmarks.server import bench_servers
    from local.generator import seed_database
    from local.simulator import simulate_changes
    from local.stack import SOURCE_ROLE, WAREHOUSE_ROLE, create_source_database, create_warehouse_database
    from ops.runner import overlay_environ

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    # moto would also run every notified function in docker: the runner delivers the events.
    logging.getLogger("moto.awslambda").setLevel(logging.CRITICAL)
    logging.getLogger("moto.awslambda.models").setLevel(logging.CRITICAL)
    gen_scale = SCALES[scale] if scale in SCALES else float(scale)
    calls: collections.Counter[str] = collections.Counter()
    with bench_servers(LOCAL_DIR / "bench" / f"cost-{os.getpid()}-pg") as (server, moto):
        os.environ["DOCKER_HOST"] = "unix:///nonexistent/totes-no-docker.sock"  # put back on exit
        reader_pw, loader_pw = uuid.uuid4().hex, uuid.uuid4().hex
        create_source_database(server, "totesys", reader_pw)
        create_warehouse_database(server, "warehouse", loader_pw)
        admin = server.connect("totesys")
        rows = sum(seed_database(admin, seed=seed, scale=gen_scale).values())
        config = {
            "source": asdict(server.credentials("totesys", SOURCE_ROLE, reader_pw)),
            "warehouse": asdict(server.credentials("warehouse", WAREHOUSE_ROLE, loader_pw)),
        }
        out: dict[str, Any] = {"scale": scale, "rows": rows, "cycles": []}
        env = {
            **moto.env(),
            "POWERTOOLS_METRICS_NAMESPACE": "CostInputs",
            "POWERTOOLS_LOG_LEVEL": "INFO",
        }  # as deployed
        with overlay_environ(env):
            runner = deploy_handlers(config)
            buckets = list(runner.buckets)
            s3 = boto3.Session().client("s3")  # not the counted default session
            boto3.setup_default_session()
            boto3.DEFAULT_SESSION.events.register(
                "before-call.*.*", lambda event_name, **_: calls.update([event_name.split(".", 1)[1]])
            )
            before = {b: _bucket_bytes(s3, b) for b in buckets}
            for name, change in CYCLES:
                if change:
                    simulate_changes(admin, seed=seed + len(out["cycles"]))
                calls.clear()
                log_start = runner.log_sink.tell()
                cycle = runner.run_cycle()
                if not cycle.ok:
                    raise RuntimeError(f"cycle failed: {[(i.function, i.error) for i in cycle.failures]}")
                after = {b: _bucket_bytes(s3, b) for b in buckets}
                out["cycles"].append({
                    "cycle": name,
                    "invocations": len(cycle.invocations),
                    "calls": dict(sorted(calls.items())),
                    "log_bytes": runner.log_sink.tell() - log_start,
                    "bucket_growth_bytes": {b.rsplit("-", 1)[1]: after[b] - before[b] for b in buckets},
                })  # fmt: skip
                before = after
        admin.close()
        return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="small", help="small (10k sales orders), 100k, 1m or a generator scale")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    with contextlib.redirect_stdout(sys.stderr):  # moto prints its Docker warnings: stdout is the JSON only
        result = measure(args.scale, args.seed)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
