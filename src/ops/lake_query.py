"""``totes lake query``: SQL over the processed bucket's Parquet, embedded (DuckDB), no warehouse needed.

Only committed objects count: each run's commit record names the attempt whose objects
are the run's (a failed attempt's objects stay in the bucket, orphaned, ``lake.keys``).
Each warehouse table becomes a pyarrow dataset of those objects, read through pyarrow's
S3 filesystem (moto's endpoint locally, AWS otherwise: DuckDB's own S3 support is an
extension, and no extension can be installed here), with the run of each object as a
``run_seq`` column (``lake.views.RUN_SEQ``); DuckDB scans the datasets lazily. The views
on top are ``lake.views``' (the one definition Athena uses too), named as in the
warehouse: ``fact_sales_order`` (every version), ``pipeline.fact_sales_order_current``,
``dim_currency`` (latest member), so one question runs unchanged on both.
"""

from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from common.s3_store import LakeStore
from common.warehouse_tables import TABLES
from lake.commit_record import read_commit_record
from lake.keys import committed_runs
from lake.views import CURRENT_SUFFIX, RUN_SEQ, lake_views

CURRENT_SCHEMA = "pipeline"  # where the warehouse keeps its current-state views (003)
_READERS = 8  # commit records read at once


def committed_objects(store: LakeStore) -> dict[str, list[tuple[int, str]]]:
    """Per warehouse table, the (run, key) of every Parquet object a committed run names, in run order."""
    with ThreadPoolExecutor(_READERS) as pool:
        records = list(pool.map(lambda seq: read_commit_record(store, seq), committed_runs(store)))
    out: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for record in records:
        for obj in record.objects:
            out[obj.table].append((record.run_seq, obj.key))
    return out


def s3_filesystem(aws_env: dict[str, str], region: str | None = None) -> pafs.S3FileSystem:
    """pyarrow's S3 filesystem: moto's endpoint and fake credentials locally, the usual AWS chain otherwise."""
    endpoint = aws_env.get("AWS_ENDPOINT_URL")
    if not endpoint:
        return pafs.S3FileSystem(region=region) if region else pafs.S3FileSystem()
    scheme, _, host = endpoint.partition("://")
    return pafs.S3FileSystem(
        endpoint_override=host,
        scheme=scheme,
        region=region or aws_env.get("AWS_REGION", "eu-west-2"),
        access_key=aws_env.get("AWS_ACCESS_KEY_ID"),
        secret_key=aws_env.get("AWS_SECRET_ACCESS_KEY"),
        session_token=aws_env.get("AWS_SESSION_TOKEN"),
    )


def table_dataset(filesystem: pafs.FileSystem, bucket: str, table: str, objects: list[tuple[int, str]]) -> ds.Dataset:
    """One warehouse table's committed lake rows, each with the run it came from (``RUN_SEQ``)."""
    fmt = ds.ParquetFileFormat()
    fragments = [
        fmt.make_fragment(f"{bucket}/{key}", filesystem, partition_expression=ds.field(RUN_SEQ) == pa.scalar(seq))
        for seq, key in objects
    ]
    schema = TABLES[table].schema.append(pa.field(RUN_SEQ, pa.int64(), nullable=False))
    return ds.FileSystemDataset(fragments, schema, fmt, filesystem)


def open_lake(store: LakeStore, filesystem: pafs.FileSystem) -> duckdb.DuckDBPyConnection:
    """An in-process DuckDB with every warehouse table's lake view (see the module docstring)."""
    con = duckdb.connect()
    con.execute(f"CREATE SCHEMA {CURRENT_SCHEMA}")
    objects = committed_objects(store)
    relation_of = {}
    for table in TABLES:
        relation_of[table] = f"lake_{table}"
        con.register(relation_of[table], table_dataset(filesystem, store.bucket, table, objects.get(table, [])))
    for name, sql in lake_views(relation_of).items():
        schema = f"{CURRENT_SCHEMA}." if name.endswith(CURRENT_SUFFIX) else ""
        con.execute(f'CREATE VIEW {schema}"{name}" AS {sql}')
    return con


def query(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run one statement; its column names and rows."""
    result = con.sql(sql)
    if result is None:
        return [], []
    return list(result.columns), result.fetchall()
