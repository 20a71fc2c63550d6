"""The Glue catalogue Terraform creates is derived from the warehouse contract, and the committed file is current."""

from __future__ import annotations

import pyarrow as pa
import pytest

from common.warehouse_tables import TABLES, Kind
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
