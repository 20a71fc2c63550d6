"""Load benchmark: 1,000,000 fact_sales_order rows through ``run_load``, side by side with
``awswrangler.postgresql.to_sql`` (default and other chunk sizes) and a raw ``psql \\copy``.

Every measurement runs in a child process (peak RSS = that child's ``ru_maxrss``) against a
fresh warehouse database on a throwaway PostgreSQL under ``.local/bench-load``; medians of
``repeats`` runs. Run: ``.venv/bin/python -m benchmarks.bench_load --scale full --repeats 3``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from benchmarks.measure import peak_rss_mib, proc_cpu_s  # noqa: E402
from benchmarks.server import bench_servers  # noqa: E402
from common.db import DbCredentials, connect, connect_dbapi  # noqa: E402
from local.paths import LOCAL_DIR  # noqa: E402
from local.postgres_server import PostgresServer  # noqa: E402
from local.stack import WAREHOUSE_ROLE, create_warehouse_database  # noqa: E402

SCALES = {"small": 100_000, "full": 1_000_000}
WRANGLER_MAX_ROWS = 100_000  # to_sql is ~100x slower; a prefix of the same data keeps the run bounded
WRANGLER_CHUNKSIZES = (200, 1_000, 4_000)  # 200 is the default; 14 columns x 4,681 rows hits the 65,535-parameter limit
DIM_SIZES = {"dim_staff": 50, "dim_counterparty": 50, "dim_currency": 3, "dim_design": 500, "dim_location": 100}


def build_inputs(rows: int, folder: Path) -> dict[str, Path]:
    """Parquet files with transform's exact schemas: 1 fact table plus the dimensions it references."""
    from common.warehouse_tables import TABLES

    rng = np.random.default_rng(42)
    folder.mkdir(parents=True, exist_ok=True)
    day0 = np.datetime64("2022-01-01")
    created = day0 + rng.integers(0, 900, rows).astype("timedelta64[D]")
    n = np.arange(1, rows + 1, dtype=np.int32)
    us_per_day = 86_400_000_000
    cols = {
        "sales_order_id": pa.array(n, pa.int32()),
        "created_date": pa.array(created, pa.date32()),
        "created_time": pa.array(rng.integers(0, us_per_day, rows), pa.int64()).cast(pa.time64("us")),
        "last_updated_date": pa.array(created + rng.integers(0, 30, rows).astype("timedelta64[D]"), pa.date32()),
        "last_updated_time": pa.array(rng.integers(0, us_per_day, rows), pa.int64()).cast(pa.time64("us")),
        "sales_staff_id": pa.array(rng.integers(1, 51, rows), pa.int32()),
        "counterparty_id": pa.array(rng.integers(1, 51, rows), pa.int32()),
        "units_sold": pa.array(rng.integers(1, 100_000, rows), pa.int32()),
        "unit_price": _pence_to_decimal(rng.integers(100, 400_000, rows)),
        "currency_id": pa.array(rng.integers(1, 4, rows), pa.int32()),
        "design_id": pa.array(rng.integers(1, 501, rows), pa.int32()),
        "agreed_payment_date": pa.array(created + rng.integers(1, 60, rows).astype("timedelta64[D]"), pa.date32()),
        "agreed_delivery_date": pa.array(created + rng.integers(1, 60, rows).astype("timedelta64[D]"), pa.date32()),
        "agreed_delivery_location_id": pa.array(rng.integers(1, 101, rows), pa.int32()),
    }
    fact = pa.table(cols, schema=TABLES["fact_sales_order"].schema)
    paths = {"fact_sales_order": folder / "fact_sales_order.parquet"}
    pq.write_table(fact, paths["fact_sales_order"])
    for name, size in DIM_SIZES.items():
        t = TABLES[name]
        data = {
            c.name: (
                pa.array(range(1, size + 1), pa.int32())
                if c.name == t.key
                else pa.array([f"{c.name} {i}" if not c.nullable else None for i in range(size)], pa.string())
            )
            for c in t.columns
        }
        paths[name] = folder / f"{name}.parquet"
        pq.write_table(pa.table(data, schema=t.schema), paths[name])
    csv_path = folder / "fact_sales_order.csv"
    pacsv.write_csv(fact, csv_path, pacsv.WriteOptions(include_header=False))
    paths["csv"] = csv_path
    return paths


def _pence_to_decimal(pence: np.ndarray) -> pa.Array:
    """Exact decimal128(10,2) from integer pence: the unscaled 128-bit value *is* the pence (never a float)."""
    words = np.zeros((len(pence), 2), dtype="<i8")
    words[:, 0] = pence  # low 64 bits; all values positive, so the high word stays 0
    return pa.Array.from_buffers(pa.decimal128(10, 2), len(pence), [None, pa.py_buffer(words.tobytes())])


# -- children -------------------------------------------------------------------


def _fresh_db(server: dict[str, Any], loader_pw: str) -> str:
    srv = PostgresServer(**server)
    name = f"bench_{uuid.uuid4().hex[:8]}"
    create_warehouse_database(srv, name, loader_pw)
    return name


def _loader_credentials(server: dict[str, Any], pw: str, db: str) -> DbCredentials:
    return PostgresServer(**server).credentials(db, WAREHOUSE_ROLE, pw)


def _loader(server: dict[str, Any], pw: str, db: str) -> Any:
    return connect(_loader_credentials(server, pw, db), "bench-load")


def _child(mode: str, args: dict[str, Any], out: Any) -> None:
    try:
        seconds, extra = globals()[f"_measure_{mode}"](**args)
        out.put({"seconds": seconds, "peak_rss_mb": peak_rss_mib(), **extra})
    except BaseException as exc:  # reported to the parent, which fails the benchmark
        out.put({"error": repr(exc)})


def _measure_run_load(
    server: dict[str, Any], pw: str, db: str, moto_env: dict[str, str], bucket: str, rows: int
) -> tuple[float, dict[str, Any]]:
    os.environ.update(moto_env)
    import boto3

    from common.s3_store import LakeStore
    from load.run import run_load

    store = LakeStore(bucket, boto3.client("s3"))
    con = _loader(server, pw, db)
    backend = con.run("SELECT pg_backend_pid()")[0][0]
    cpu0, client0 = proc_cpu_s(backend), os.times()
    t = time.perf_counter()
    result = run_load(store, con)
    seconds = time.perf_counter() - t
    client1 = os.times()
    server_cpu = proc_cpu_s(backend) - cpu0
    client_cpu = (client1.user - client0.user) + (client1.system - client0.system)
    loaded = result.runs[0].loaded["fact_sales_order"]
    assert loaded == rows, f"loaded {loaded} of {rows}"
    extra = {"rows": loaded, "server_cpu_s": server_cpu, "client_cpu_s": client_cpu, "loadavg_1m": os.getloadavg()[0]}
    return seconds, extra


def _create_plain_table(con: Any) -> None:
    # The ceiling/baseline target: the columns transform writes (the CSV's, not the warehouse's
    # own such as is_deleted) with their types, no constraints or indexes.
    from common.warehouse_tables import TABLES

    cols = ", ".join(TABLES["fact_sales_order"].column_names)  # allow-listed names
    con.run(f"CREATE TABLE plain_fact AS SELECT {cols} FROM fact_sales_order WITH NO DATA")  # nosec B608


def _measure_psql_copy(server: dict[str, Any], pw: str, db: str, csv_path: str, rows: int) -> tuple[float, dict]:
    con = _loader(server, pw, db)
    _create_plain_table(con)
    con.close()
    creds = _loader_credentials(server, pw, db)
    env = {**os.environ, "PGPASSWORD": pw, "PGSSLMODE": creds.sslmode, "PGSSLROOTCERT": creds.sslrootcert or ""}
    t = time.perf_counter()
    subprocess.run(
        [
            "/usr/bin/psql",
            "-h",
            server["host"],
            "-p",
            str(server["port"]),
            "-U",
            WAREHOUSE_ROLE,
            "-d",
            db,
            "-v",
            "ON_ERROR_STOP=1",
            "-q",
            "-c",
            f"\\copy plain_fact FROM '{csv_path}' WITH (FORMAT csv)",
        ],
        check=True,
        env=env,
    )
    return time.perf_counter() - t, {"rows": rows}


def _measure_wrangler(
    server: dict[str, Any], pw: str, db: str, parquet_path: str, rows: int, chunksize: int
) -> tuple[float, dict]:
    import awswrangler as wr

    con = _loader(server, pw, db)
    _create_plain_table(con)
    con.close()
    # Read outside the timed part: to_sql's cost is what is measured, as for the others.
    df = pq.read_table(parquet_path).slice(0, rows).to_pandas()
    dbapi = connect_dbapi(_loader_credentials(server, pw, db), "bench-load-wrangler")
    t = time.perf_counter()
    wr.postgresql.to_sql(df, dbapi, table="plain_fact", schema="public", mode="append", chunksize=chunksize)
    return time.perf_counter() - t, {"rows": rows}


def _in_child(mode: str, **args: Any) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(mode, args, q))
    p.start()
    res = q.get()
    p.join()
    if "error" in res:
        raise RuntimeError(f"{mode} failed: {res['error']}")
    return res


METHODS = ("run_load", "psql_copy", "wrangler")


def run(scale: str, repeats: int, methods: tuple[str, ...] = METHODS) -> dict[str, Any]:
    """Measure and return medians; starts and stops its own PostgreSQL and moto.

    ``methods`` narrows a quick iteration to some of ``METHODS``; the side-by-side
    record (``make bench``) always measures all three.
    """
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")

    rows = SCALES[scale]
    root = LOCAL_DIR / "bench-load"
    inputs = build_inputs(rows, root / "inputs")
    pw = uuid.uuid4().hex
    results: dict[str, list[dict[str, Any]]] = {}
    with bench_servers(root / "pg") as (server, moto):
        srv = {"data_dir": server.data_dir, "port": server.port, "password": server.password, "ca_file": server.ca_file}
        import boto3

        os.environ.update(moto.env())
        s3 = boto3.client("s3")
        server_args = {**srv, "host": server.host}
        for i in range(repeats):
            # Side by side: each repeat measures every method once, in the same conditions.
            bucket = f"bench-{uuid.uuid4().hex[:8]}"
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
            tables = {}
            for name, path in inputs.items():
                if name == "csv":
                    continue
                key = f"tables/{name}/0000000001-bench.parquet"
                s3.upload_file(str(path), bucket, key)
                tables[name] = {"key": key, "rows": pq.read_metadata(path).num_rows}
            s3.put_object(
                Bucket=bucket,
                Key="runs/0000000001.json",
                Body=json.dumps({"format": 1, "run_seq": 1, "attempt": "bench", "tables": tables}).encode(),
            )
            if "run_load" in methods:
                results.setdefault("run_load", []).append(
                    _in_child(
                        "run_load",
                        server=server_args,
                        pw=pw,
                        db=_fresh_db(server_args, pw),
                        moto_env=moto.env(),
                        bucket=bucket,
                        rows=rows,
                    )
                )
            if "psql_copy" in methods:
                results.setdefault("psql_copy", []).append(
                    _in_child(
                        "psql_copy",
                        server=server_args,
                        pw=pw,
                        db=_fresh_db(server_args, pw),
                        csv_path=str(inputs["csv"]),
                        rows=rows,
                    )
                )
            for cs in WRANGLER_CHUNKSIZES if "wrangler" in methods else ():
                results.setdefault(f"wrangler_to_sql_chunksize_{cs}", []).append(
                    _in_child(
                        "wrangler",
                        server=server_args,
                        pw=pw,
                        db=_fresh_db(server_args, pw),
                        parquet_path=str(inputs["fact_sales_order"]),
                        rows=min(rows, WRANGLER_MAX_ROWS),
                        chunksize=cs,
                    )
                )
            print(f"repeat {i + 1}/{repeats} done", file=sys.stderr, flush=True)
    summary: dict[str, Any] = {"scale": scale, "rows": rows, "repeats": repeats}
    for method, samples in results.items():
        med = statistics.median(s["seconds"] for s in samples)
        n = samples[0]["rows"]
        summary[method] = {
            "rows": n,
            "median_s": round(med, 2),
            "rows_per_s": round(n / med),
            "peak_rss_mb": round(max(s["peak_rss_mb"] for s in samples)),
            "samples_s": [round(s["seconds"], 2) for s in samples],
        }
        if "loadavg_1m" in samples[0]:  # after each sample: how contended the machine was
            summary[method]["loadavg_1m_samples"] = [round(s["loadavg_1m"], 2) for s in samples]
        for cpu in ("server_cpu_s", "client_cpu_s"):
            if cpu in samples[0]:
                summary[method][f"median_{cpu}"] = round(statistics.median(s[cpu] for s in samples), 2)
    if "run_load" not in summary:
        return summary
    ours = summary["run_load"]["rows_per_s"]
    summary["ratios_vs_run_load"] = {
        m: round(v["rows_per_s"] / ours, 3) for m, v in summary.items() if isinstance(v, dict) and "rows_per_s" in v
    }
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", choices=sorted(SCALES), default="full")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--methods",
        default=",".join(METHODS),
        help=f"comma list of {', '.join(METHODS)} (default: all, side by side)",
    )
    args = parser.parse_args()
    methods = tuple(m for m in args.methods.split(",") if m)
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        parser.error(f"unknown methods {unknown}")
    print(json.dumps(run(args.scale, args.repeats, methods), indent=2))


if __name__ == "__main__":
    main()
