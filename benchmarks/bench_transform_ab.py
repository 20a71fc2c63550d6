"""Benchmark: transform's first full run on the generator's data, two source trees side by side.

``bench_transform`` feeds transform synthetic sales orders and small dimensions; this
feeds it all eleven source tables as ``local.generator`` makes them (``transaction``
and ``payment`` included), rendered to JSON lines by ingestion's own ``CsvRenderer``
and committed as one ingestion run in a moto server (its own process). Each variant
(a ``src`` folder: e.g. a ``git worktree`` of the baseline commit and this one) runs
``run_transform`` in a fresh child process, interleaved, on the same input; the
figure is the child's CPU-seconds (all threads) per 1M rows read, and its peak RSS.
This is how the quadratic foreign-key check of a first load was found and its fix
measured (docs/benchmarks.md, "At 5M sales orders").

Usage::

    git worktree add /tmp/base <baseline commit>
    .venv/bin/python -m benchmarks.bench_transform_ab --scale 50 --rounds 2 --before /tmp/base/src

(generator scale 200 = 1M sales orders, 4.36M rows; 50 = 0.25M).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import sys
import time
import uuid
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from benchmarks import ab, measure

RUN_KEY_SUFFIX = "0000000001-bench0000000.jsonl.gz"


def _child(src: str, endpoint: str, ingest_bucket: str, processed_bucket: str) -> dict[str, Any]:
    """In the child: ``run_transform`` from the source tree ``src``, measured."""
    sys.path.insert(0, src)
    import boto3
    import pandas  # noqa: F401  # warm, as a warm Lambda is
    import pyarrow.parquet  # noqa: F401

    from common.s3_store import LakeStore
    from transform.run import run_transform

    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="eu-west-2")
    load = os.getloadavg()[0]
    cpu, start = time.process_time(), time.perf_counter()
    result = run_transform(LakeStore(ingest_bucket, s3), LakeStore(processed_bucket, s3))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - start
    return {"cpu_s": cpu, "wall_s": wall, "loadavg_1m_before": load, "peak_rss_mib": measure.peak_rss_mib(),
            "rows_out": sum(result.rows_out.values())}  # fmt: skip


def _jsonl_gz(pieces: list[pa.Table], table: str) -> bytes:
    """The pieces as ingestion writes them: CSV (as COPY gives it) -> ``CsvRenderer`` -> gzip."""
    from common.source_tables import SOURCE_TABLES
    from ingestion.render import CsvRenderer

    renderer = CsvRenderer(SOURCE_TABLES[table])
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=1) as gz:
        for piece in pieces:
            for i, column in enumerate(piece.schema):
                if pa.types.is_boolean(column.type):  # PostgreSQL's CSV spells booleans t/f
                    piece = piece.set_column(i, column.name, pc.if_else(piece.column(i), "t", "f"))
            csv = io.BytesIO()
            pacsv.write_csv(piece, csv, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
            gz.write("".join(renderer.render(csv.getvalue()).lines.to_pylist()).encode())
    return out.getvalue()


def _commit_input(s3: Any, bucket: str, scale: float) -> int:
    """Commit the generator's tables at ``scale`` as ingestion run 1; return the rows."""
    from common.s3_store import LakeStore
    from lake.keys import run_key
    from local.generator import generate_tables

    by_table: dict[str, list[pa.Table]] = {}
    for table, piece in generate_tables(seed=42, scale=scale):
        by_table.setdefault(table, []).append(piece)
    ingest, tables = LakeStore(bucket, s3), {}
    for table, pieces in by_table.items():
        body = _jsonl_gz(pieces, table)
        key = f"data/{table}/2024-01-02/{RUN_KEY_SUFFIX}"
        ingest.put_new(key, body)
        tables[table] = {
            "key": key,
            "rows": sum(p.num_rows for p in pieces),
            "sha256": hashlib.sha256(body).hexdigest(),
        }
    ingest.put_new_json(run_key(1), {"format": 1, "run_seq": 1, "attempt": "bench00000000", "tables": tables})
    return sum(t["rows"] for t in tables.values())


def run(scale: float, rounds: int, variants: dict[str, str]) -> dict[str, Any]:
    """``rounds`` interleaved first runs of each variant (name -> ``src`` folder) on one input."""
    from local.moto_server import REGION, moto_client, start_moto

    moto = start_moto(detached=True)
    try:
        s3 = moto_client("s3", moto.endpoint)

        def bucket() -> str:
            name = f"bench-{uuid.uuid4().hex[:12]}"
            s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
            return name

        ingest_bucket = bucket()
        rows = _commit_input(s3, ingest_bucket, scale)

        def measure(src: str) -> dict[str, Any]:
            child_args = [moto.endpoint, ingest_bucket, bucket()]
            doc = ab.spawn("benchmarks.bench_transform_ab", src, child_args, {**os.environ, **moto.env()})
            return {**doc, "cpu_s_per_1m_rows": doc["cpu_s"] / rows * 1e6}

        runs = ab.interleave(rounds, variants, measure)
        return {
            "generator_scale": scale,
            "rows_in": rows,
            "variants": variants,
            "medians": ab.medians(runs, ("cpu_s_per_1m_rows", "peak_rss_mib")),
            "runs": runs,
        }
    finally:
        moto.stop()


def main(argv: list[str] | None = None) -> int:
    parser = ab.parser(__doc__, child_args=3)
    parser.add_argument("--scale", type=float, default=200.0, help="generator scale (200 = 1M sales orders)")
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(*args.child)), flush=True)
        return 0
    print(json.dumps(run(args.scale, args.rounds, ab.variants(args)), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
