"""The Glue catalogue Terraform creates is derived from the warehouse contract, and the committed file is current."""

from __future__ import annotations

import datetime as dt

import duckdb
import pyarrow as pa
import pytest

from common.warehouse_tables import FACTS, TABLES, Kind
from ops.lake_catalog import CATALOG_FILE, catalog, glue_type, render


def test_the_committed_catalogue_is_what_the_contract_gives() -> None:
    assert CATALOG_FILE.read_text() == render(), (
        "terraform/lake_catalog.json is stale: run `.venv/bin/python -m ops.lake_catalog` (a warehouse table changed)"
    )


def test_every_warehouse_table_is_a_lake_table_with_its_columns_and_views_named_as_in_the_warehouse() -> None:
    got = catalog()
    for name, table in TABLES.items():
        lake = got["tables"][f"objects_{name}"]
        assert lake["prefix"] == f"tables/{name}/"
        assert [c["name"] for c in lake["columns"]] == list(table.column_names)
        assert name in got["views"]
        if table.kind is Kind.FACT:
            assert f"{name}_current" in got["views"]
            assert "run_seq" in [c["name"] for c in got["views"][name]["columns"]]  # history: which run
    assert got["tables"]["transform_runs"]["prefix"] == "runs/"
    committed = got["views"]["fact_sales_order_committed"]["sql"]
    assert '"$path"' in committed
    assert '"transform_runs"' in committed


@pytest.mark.parametrize(
    ("arrow", "glue"),
    [
        (pa.int32(), "int"),
        (pa.string(), "string"),
        (pa.date32(), "date"),
        (pa.decimal128(10, 2), "decimal(10,2)"),
        (pa.bool_(), "boolean"),
        (pa.time64("us"), "bigint"),
    ],
    ids=["int", "string", "date", "money", "bool", "time"],
)
def test_glue_types(arrow: pa.DataType, glue: str) -> None:
    assert glue_type(arrow) == glue


def test_a_type_without_a_glue_equivalent_is_refused() -> None:
    with pytest.raises(ValueError, match="no Glue type"):
        glue_type(pa.list_(pa.int32()))


# -- the Athena views' text, run on DuckDB (the same SQL subset) over hand-made objects ----------

_ATTEMPT, _ORPHAN = "0123456789ab", "ba9876543210"


def _objects(rows: list[tuple[int, str, int, int]]) -> pa.Table:
    """fact_sales_order objects as Athena reads them: the "$path" of each row's object and
    times as microseconds (bigint). ``rows``: (run, attempt, sales_order_id, units_sold)."""
    table = TABLES["fact_sales_order"]
    values = {c: [] for c in (*table.column_names, "$path")}
    for run, attempt, order, units in rows:
        row = {c: None for c in table.column_names}
        row |= {"sales_order_id": order, "units_sold": units, "last_updated_date": dt.date(2026, 11, 22),
                "last_updated_time": 36_000_000_000, "created_date": dt.date(2026, 11, 1)}  # fmt: skip
        row["$path"] = f"s3://processed/tables/fact_sales_order/{run:010d}-{attempt}.parquet"
        for c, v in row.items():
            values[c].append(v)
    types = {f.name: (pa.int64() if pa.types.is_time64(f.type) else f.type) for f in table.schema}
    return pa.table({c: pa.array(v, types.get(c, pa.string())) for c, v in values.items()})


def _runs(deleted_in_run_3: list[int]) -> pa.Table:
    """Three commit records (the Ion SerDe's view of them); run 3 is a comparison run."""
    entry = pa.struct([("observed_at", pa.string()), ("ids", pa.list_(pa.int32()))])
    deletions = pa.struct([(f, entry) for f in FACTS])
    docs = [{"run_seq": seq, "attempt": _ATTEMPT, "deletions": None} for seq in (1, 2)]
    deleted = {"fact_sales_order": {"observed_at": "2026-11-22T10:00:00.250Z", "ids": deleted_in_run_3}}
    docs.append({"run_seq": 3, "attempt": _ATTEMPT, "deletions": deleted})
    schema = pa.schema([("run_seq", pa.int32()), ("attempt", pa.string()), ("deletions", deletions)])
    return pa.Table.from_pylist(docs, schema=schema)


def _athena_on_duckdb(objects: pa.Table, runs: pa.Table) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.register("objects_fact_sales_order", objects)
    con.register("transform_runs", runs)
    views = catalog()["views"]
    for name in ("fact_sales_order_committed", "fact_sales_order_deleted", "fact_sales_order",
                 "fact_sales_order_current"):  # fmt: skip
        con.execute(f'CREATE VIEW "{name}" AS {views[name]["sql"]}')
    return con


def test_athena_current_view_leaves_out_deleted_facts_and_takes_the_later_load_on_a_timestamp_tie() -> None:
    """Order 1: first loaded (run 1), corrected in place under the same last_updated (run 2);
    order 2: deleted at the source (comparison run 3); order 3 untouched; an orphaned attempt
    of run 2 (a crashed transform's object) must count for nothing."""
    objects = _objects([(1, _ATTEMPT, 1, 10), (1, _ATTEMPT, 2, 20), (1, _ATTEMPT, 3, 30),
                        (2, _ATTEMPT, 1, 11), (2, _ORPHAN, 1, 99)])  # fmt: skip
    con = _athena_on_duckdb(objects, _runs([2]))
    current = con.sql('SELECT sales_order_id, units_sold FROM "fact_sales_order_current" ORDER BY 1').fetchall()
    assert current == [(1, 11), (3, 30)]
    deletion = con.sql(
        'SELECT last_updated_date, last_updated_time, run_seq, is_deleted FROM "fact_sales_order"'
        " WHERE sales_order_id = 2 ORDER BY run_seq"
    ).fetchall()
    # The deletion version is dated by the comparison's observation (10:00:00.250 UTC), as load dates it.
    assert deletion == [(dt.date(2026, 11, 22), 36_000_000_000, 1, False),
                        (dt.date(2026, 11, 22), 36_000_250_000, 3, True)]  # fmt: skip


def test_athena_views_without_any_deletion_keep_every_current_fact() -> None:
    con = _athena_on_duckdb(_objects([(1, _ATTEMPT, 1, 10), (2, _ATTEMPT, 2, 20)]), _runs([]))
    assert con.sql('SELECT count(*) FROM "fact_sales_order_current"').fetchall() == [(2,)]
    assert con.sql('SELECT count(*) FROM "fact_sales_order_deleted"').fetchall() == [(0,)]


def test_the_commit_records_table_declares_every_facts_deletions() -> None:
    runs = {c["name"]: c["type"] for c in catalog()["tables"]["transform_runs"]["columns"]}
    for fact in FACTS:
        assert f"{fact}:struct<observed_at:string,ids:array<int>>" in runs["deletions"]
