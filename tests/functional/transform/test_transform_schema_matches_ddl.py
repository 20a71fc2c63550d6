"""The Parquet schemas transform writes are the warehouse DDL's types, column for column."""

from __future__ import annotations

import pyarrow as pa

from common.warehouse_tables import FACT_SURROGATE_KEYS, FACT_WAREHOUSE_COLUMNS
from lake.fx_rates import RATE_PRECISION, RATE_SCALE
from lake.fx_rates import SCHEMA as FX_RATE_SCHEMA
from lake.keys import FX_RATES
from transform.run import run_transform
from transform.schemas import WAREHOUSE_SCHEMAS

_ARROW = {
    "integer": pa.int32(),
    "numeric": pa.decimal128(10, 2),
    "date": pa.date32(),
    "time without time zone": pa.time64("us"),
    "boolean": pa.bool_(),
    "character varying": pa.string(),
    "text": pa.string(),
}
# Columns of a table that the warehouse fills and no Parquet carries.
_WAREHOUSE_ONLY = {**FACT_SURROGATE_KEYS, FX_RATES: "run_seq"}


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
        if _WAREHOUSE_ONLY.get(table) == column:
            continue  # serial or bookkeeping: assigned by the warehouse, not in the Parquet
        if table in FACT_SURROGATE_KEYS and column in FACT_WAREHOUSE_COLUMNS:
            continue  # filled by the warehouse (a default, a generated hash)
        arrow = _ARROW[data_type]
        if data_type == "numeric":
            money = (precision, scale) == (10, 2)
            assert money or (table, (precision, scale)) == (FX_RATES, (RATE_PRECISION, RATE_SCALE)), f"{table}.{column}"
            arrow = pa.decimal128(precision, scale)
        ddl.setdefault(table, []).append(pa.field(column, arrow, nullable=nullable == "YES"))

    # The exchange rates' Parquet (lake.fx_rates, the second source) is the fx_rate table's, in key order.
    fx = {f.name: f for f in ddl.pop(FX_RATES)}
    assert pa.schema([fx[name] for name in FX_RATE_SCHEMA.names]).equals(FX_RATE_SCHEMA)
    assert set(fx) == set(FX_RATE_SCHEMA.names)
    assert set(ddl) == set(WAREHOUSE_SCHEMAS)
    for table, fields in ddl.items():
        expected = pa.schema(fields)
        assert WAREHOUSE_SCHEMAS[table].equals(expected), table
        written = lake.output(1, table)
        assert written is not None, table
        assert written.schema.remove_metadata().equals(expected), table
