"""The Parquet schemas transform writes are the warehouse DDL's types, column for column."""

from __future__ import annotations

import pyarrow as pa

from common.warehouse_tables import FACT_SURROGATE_KEYS, FACT_WAREHOUSE_COLUMNS
from transform.run import run_transform
from transform.schemas import WAREHOUSE_SCHEMAS

_ARROW = {
    "integer": pa.int32(),
    "numeric": pa.decimal128(10, 2),
    "date": pa.date32(),
    "time without time zone": pa.time64("us"),
    "boolean": pa.bool_(),
    "character varying": pa.string(),
}


def test_parquet_schemas_equal_the_migrated_warehouse(lake, warehouse_db) -> None:
    lake.commit_ingest(
        1,
        {
            **lake.base_rows(),
            "sales_order": [lake.row("sales_order", 1)],
            "purchase_order": [lake.row("purchase_order", 1)],
            "payment": [lake.row("payment", 1)],
        },
    )
    run_transform(lake.ingest, lake.processed)
    live = warehouse_db.admin.run(
        "SELECT table_name, column_name, data_type, is_nullable, numeric_precision, numeric_scale"
        " FROM information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"
    )
    ddl: dict[str, list[pa.Field]] = {}
    for table, column, data_type, nullable, precision, scale in live:
        if FACT_SURROGATE_KEYS.get(table) == column:
            continue  # serial: assigned by the warehouse, not in the Parquet
        if table in FACT_SURROGATE_KEYS and column in FACT_WAREHOUSE_COLUMNS:
            continue  # filled by the warehouse (a default, a generated hash)
        if data_type == "numeric":
            assert (precision, scale) == (10, 2), f"{table}.{column}"
        ddl.setdefault(table, []).append(pa.field(column, _ARROW[data_type], nullable=nullable == "YES"))

    assert set(ddl) == set(WAREHOUSE_SCHEMAS)
    for table, fields in ddl.items():
        expected = pa.schema(fields)
        assert WAREHOUSE_SCHEMAS[table].equals(expected), table
        written = lake.output(1, table)
        assert written is not None, table
        assert written.schema.remove_metadata().equals(expected), table
