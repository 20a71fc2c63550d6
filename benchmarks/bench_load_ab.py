"""Benchmark: ``run_load``'s memory and CPU on a fact referencing millions of members, two source trees side by side.

``bench_load`` loads sales orders, whose references are a few hundred staff, designs
and locations. A payment references its own transaction, so at 5M sales orders
fact_payment references about 6.75M distinct ``dim_transaction`` ids: what load keeps
per referenced id is what grows with the run (docs/benchmarks.md, "Load's memory at
5M"). This loads one run of ``--rows`` payments (transaction ids ``1..rows``) with a
``dim_transaction`` of ``rows - MISSING`` members (so ``MISSING`` placeholders are
inferred, by every variant alike) and the small dimensions into an empty warehouse:
the first load's path (the fact goes direct, ``load.direct``).

Each variant (a ``src`` folder: e.g. a ``git worktree`` of the baseline commit and
this one) runs ``run_load`` in a fresh child process on a fresh warehouse database,
interleaved; the figures are the child's peak RSS (VmHWM) and its growth from the
RSS before ``run_load``, its CPU-seconds and those of the whole (private) PostgreSQL
server, parallel query workers included.

Usage::

    git worktree add --detach /tmp/base <baseline commit>
    .venv/bin/python -m benchmarks.bench_load_ab --rows 3000000 --rounds 2 --before /tmp/base/src
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks import ab, measure

# Nothing of the project at module level: the child must import it from its variant's ``src``.
MISSING = 100  # transaction ids the fact references that never arrived: inferred members
SMALL_DIMS = {"dim_counterparty": 50, "dim_currency": 3, "dim_payment_type": 4}


def _child(src: str, server: dict[str, Any], pw: str, db: str, bucket: str) -> dict[str, Any]:
    """In the child: ``run_load`` from the source tree ``src``, measured."""
    sys.path.insert(0, src)
    import boto3

    from common.db import connect
    from common.s3_store import LakeStore
    from load.run import run_load
    from local.postgres_server import PostgresServer
    from local.stack import WAREHOUSE_ROLE

    srv = PostgresServer(**server)
    con = connect(srv.credentials(db, WAREHOUSE_ROLE, pw), "bench-load-ab")
    backend = con.run("SELECT pg_backend_pid()")[0][0]
    postmaster = int(Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()[1])  # parallel workers too
    store = LakeStore(bucket, boto3.client("s3"))
    rss_before = measure.status_mib("VmRSS")
    load = os.getloadavg()[0]
    server0, client0, start = measure.server_cpu_s(postmaster), time.process_time(), time.perf_counter()
    result = run_load(store, con)
    wall, client = time.perf_counter() - start, time.process_time() - client0
    run = result.runs[0]
    return {
        "wall_s": wall,
        "client_cpu_s": client,
        "server_cpu_s": measure.server_cpu_s(postmaster) - server0,  # the bench's own server: all of it is this load
        "loadavg_1m_before": load,
        "peak_rss_mib": measure.peak_rss_mib(),
        "rss_growth_mib": measure.peak_rss_mib() - rss_before,
        "loaded": run.loaded,
        "inferred_members": run.inferred_members,
    }


def build_inputs(rows: int, folder: Path) -> dict[str, Path]:
    """fact_payment of ``rows`` payments, one transaction each; dim_transaction lacks the last ``MISSING``."""
    from benchmarks.bench_load import _pence_to_decimal
    from common.warehouse_tables import TABLES

    rng = np.random.default_rng(42)
    folder.mkdir(parents=True, exist_ok=True)
    ids = np.arange(1, rows + 1, dtype=np.int32)
    day0 = np.datetime64("2022-01-01")
    created = day0 + rng.integers(0, 900, rows).astype("timedelta64[D]")
    us_per_day = 86_400_000_000
    fact = {
        "payment_id": pa.array(ids),
        "created_date": pa.array(created, pa.date32()),
        "created_time": pa.array(rng.integers(0, us_per_day, rows), pa.int64()).cast(pa.time64("us")),
        "last_updated_date": pa.array(created + rng.integers(0, 30, rows).astype("timedelta64[D]"), pa.date32()),
        "last_updated_time": pa.array(rng.integers(0, us_per_day, rows), pa.int64()).cast(pa.time64("us")),
        "transaction_id": pa.array(ids),
        "counterparty_id": pa.array(rng.integers(1, SMALL_DIMS["dim_counterparty"] + 1, rows), pa.int32()),
        "payment_amount": _pence_to_decimal(rng.integers(100, 400_000, rows)),
        "currency_id": pa.array(rng.integers(1, SMALL_DIMS["dim_currency"] + 1, rows), pa.int32()),
        "payment_type_id": pa.array(rng.integers(1, SMALL_DIMS["dim_payment_type"] + 1, rows), pa.int32()),
        "paid": pa.array(rng.integers(0, 2, rows).astype(bool)),
        "payment_date": pa.array(created + rng.integers(1, 60, rows).astype("timedelta64[D]"), pa.date32()),
    }
    known = ids[: rows - MISSING]
    sale = known % 2 == 0
    tables = {
        "fact_payment": pa.table(fact, schema=TABLES["fact_payment"].schema),
        "dim_transaction": pa.table(
            {
                "transaction_id": pa.array(known),
                "transaction_type": pa.array(np.where(sale, "SALE", "PURCHASE")),
                "sales_order_id": pa.array(known, mask=~sale),
                "purchase_order_id": pa.array(known, mask=sale),
            },
            schema=TABLES["dim_transaction"].schema,
        ),
    }
    for name, size in SMALL_DIMS.items():
        t = TABLES[name]
        tables[name] = pa.table(
            {
                c.name: pa.array(range(1, size + 1), pa.int32())
                if c.name == t.key
                else pa.array([None if c.nullable else f"{c.name[:10]} {i}" for i in range(size)], pa.string())
                for c in t.columns
            },
            schema=t.schema,
        )
    paths = {}
    for name, table in tables.items():
        paths[name] = folder / f"{name}.parquet"
        pq.write_table(table, paths[name])
    return paths


def run(rows: int, rounds: int, variants: dict[str, str]) -> dict[str, Any]:
    """``rounds`` interleaved first loads of each variant (name -> ``src`` folder) of one input."""
    import logging

    import boto3

    from benchmarks.bench_load import _fresh_db
    from benchmarks.server import bench_servers
    from common.warehouse_tables import LOAD_ORDER
    from local.paths import LOCAL_DIR

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    root = LOCAL_DIR / "bench-load-ab"
    inputs = build_inputs(rows, root / "inputs")
    pw = uuid.uuid4().hex
    with bench_servers(root / "pg") as (server, moto):
        os.environ.update(moto.env())
        s3 = boto3.client("s3")
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
        tables = {}
        for name in (n for n in LOAD_ORDER if n in inputs):
            key = f"tables/{name}/0000000001-bench.parquet"
            s3.upload_file(str(inputs[name]), bucket, key)
            tables[name] = {"key": key, "rows": pq.read_metadata(inputs[name]).num_rows}
        s3.put_object(
            Bucket=bucket,
            Key="runs/0000000001.json",
            Body=json.dumps({"format": 1, "run_seq": 1, "attempt": "bench", "tables": tables}).encode(),
        )
        srv = {
            "data_dir": str(server.data_dir),
            "port": server.port,
            "password": server.password,
            "ca_file": str(server.ca_file) if server.ca_file else None,
            "host": server.host,
        }

        def measure(src: str) -> dict[str, Any]:
            child_args = [json.dumps(srv), pw, _fresh_db(srv, pw), bucket]
            return ab.spawn("benchmarks.bench_load_ab", src, child_args, dict(os.environ))

        runs = ab.interleave(rounds, variants, measure)
    fields = ("peak_rss_mib", "rss_growth_mib", "client_cpu_s", "server_cpu_s", "wall_s")
    return {"rows": rows, "variants": variants, "medians": ab.medians(runs, fields), "runs": runs}


def main(argv: list[str] | None = None) -> int:
    parser = ab.parser(__doc__, child_args=4)
    parser.add_argument("--rows", type=int, default=3_000_000, help="payments (= distinct transactions) in the run")
    args = parser.parse_args(argv)
    if args.child:
        src, server, pw, db, bucket = args.child
        print(json.dumps(_child(src, json.loads(server), pw, db, bucket)), flush=True)
        return 0
    print(json.dumps(run(args.rows, args.rounds, ab.variants(args)), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
