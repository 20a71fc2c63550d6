"""``totes lake query``: SQL over the processed bucket's Parquet, embedded (DuckDB), no warehouse needed.

Only committed objects count: each run's commit record names the attempt whose objects
are the run's (a failed attempt's objects stay in the bucket, orphaned, ``lake.keys``).
Each warehouse table becomes a pyarrow dataset of those objects, read through pyarrow's
S3 filesystem (moto's endpoint locally, AWS otherwise: DuckDB's own S3 support is an
extension, and no extension can be installed here), with the run of each object as a
``run_seq`` column (``lake.views.RUN_SEQ``); DuckDB scans the datasets lazily. The views
on top are ``lake.views``' (the one definition Athena uses too), named as in the
warehouse: ``fact_sales_order`` (every version), ``pipeline.fact_sales_order_current``,
``dim_currency`` (latest member), so one question runs unchanged on both. Rows deleted at
the source reach the lake only as the comparison runs' commit records (``deletions``):
they become deletion versions here (``lake.views.fact_versions_sql``), as load makes them.
"""

from __future__ import annotations

import datetime as dt
import os
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs

from common.s3_store import LakeStore
from common.warehouse_tables import TABLES, Kind
from lake.commit_record import CommitRecord, read_commit_record
from lake.keys import committed_runs
from lake.views import CURRENT_SUFFIX, RUN_SEQ, lake_views
from load.deletions import observed_moment

CURRENT_SCHEMA = "pipeline"  # where the warehouse keeps its current-state views (003)
_READERS = 8  # commit records read at once


def committed_records(store: LakeStore) -> list[CommitRecord]:
    """Every transform commit record of ``store``, in run order."""
    with ThreadPoolExecutor(_READERS) as pool:
        return list(pool.map(lambda seq: read_commit_record(store, seq), committed_runs(store)))


def committed_objects(records: list[CommitRecord]) -> dict[str, list[tuple[int, str]]]:
    """Per warehouse table, the (run, key) of every Parquet object a committed run names, in run order."""
    out: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for record in records:
        for obj in record.objects:
            out[obj.table].append((record.run_seq, obj.key))
    return out


def deletions_table(records: list[CommitRecord], fact: str) -> pa.Table:
    """The deletions of ``fact`` the comparison runs recorded: key, the moment observed (as load
    dates its deletion versions, ``load.deletions.observed_moment``) and the run."""
    rows: list[tuple[int, dt.datetime, int]] = []
    for record in records:
        found = record.deletions.get(fact)
        if found is not None:
            moment = observed_moment(found)
            rows += [(int(i), moment, record.run_seq) for i in found.ids]
    key = TABLES[fact].key
    return pa.table(
        {
            key: pa.array([r[0] for r in rows], pa.int32()),
            "last_updated_date": pa.array([r[1].date() for r in rows], pa.date32()),
            "last_updated_time": pa.array([r[1].time() for r in rows], pa.time64("us")),
            RUN_SEQ: pa.array([r[2] for r in rows], pa.int64()),
        }
    )


def s3_filesystem(aws_env: dict[str, str], region: str | None = None) -> pafs.S3FileSystem:
    """pyarrow's S3 filesystem, reaching the S3 boto3 reaches: locally moto's endpoint and fake
    credentials (``aws_env``); otherwise the usual AWS chain, with the endpoint boto3 takes from
    ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` (pyarrow itself ignores those variables)."""
    endpoint = (
        aws_env.get("AWS_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    )
    options: dict[str, Any] = {}
    region = region or aws_env.get("AWS_REGION") or os.environ.get("AWS_REGION")
    if region:
        options["region"] = region
    if aws_env:
        options |= {
            "access_key": aws_env.get("AWS_ACCESS_KEY_ID"),
            "secret_key": aws_env.get("AWS_SECRET_ACCESS_KEY"),
            "session_token": aws_env.get("AWS_SESSION_TOKEN"),
        }
    if endpoint:
        scheme, _, host = endpoint.partition("://")
        options |= {"endpoint_override": host, "scheme": scheme}
    return pafs.S3FileSystem(**options)


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
    records = committed_records(store)
    objects = committed_objects(records)
    relation_of, deleted_of = {}, {}
    for table, spec in TABLES.items():
        relation_of[table] = f"lake_{table}"
        con.register(relation_of[table], table_dataset(filesystem, store.bucket, table, objects.get(table, [])))
        if spec.kind is Kind.FACT:
            deleted_of[table] = f"lake_{table}_deleted"
            con.register(deleted_of[table], deletions_table(records, table))
    for name, sql in lake_views(relation_of, deleted_of).items():
        schema = f"{CURRENT_SCHEMA}." if name.endswith(CURRENT_SUFFIX) else ""
        con.execute(f'CREATE VIEW {schema}"{name}" AS {sql}')
    return con


def query(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run one statement; its column names and rows."""
    result = con.sql(sql)
    if result is None:
        return [], []
    return list(result.columns), result.fetchall()
