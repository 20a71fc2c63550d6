"""Staging against real PostgreSQL: COPY round trip, and a read failure mid-COPY leaves the connection usable."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from common.warehouse_tables import FACT_WAREHOUSE_COLUMNS, TABLES
from load.errors import ParquetSchemaError
from load.staging import stage_parquet


def _parquet(table: str, rows: list[dict[str, Any]], row_group_size: int | None = None) -> io.BytesIO:
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=TABLES[table].schema), buf, row_group_size=row_group_size)
    buf.seek(0)
    return buf


def test_copy_round_trip_keeps_nulls_empty_strings_quotes_and_money(warehouse_db: Any, make: Any) -> None:
    rows = [
        make.location(1, address_line_2="", district=None, address_line_1='1 "Quoted", Lane\nBack'),
        make.location(2, address_line_2=None, district="Ünïcødé"),
    ]
    con = warehouse_db.connect()
    con.run("BEGIN")
    staged = stage_parquet(con, TABLES["dim_location"], _parquet("dim_location", rows))
    got = con.run("SELECT location_id, address_line_1, address_line_2, district FROM stg_dim_location ORDER BY 1")
    con.run("ROLLBACK")
    assert staged.rows == 2
    assert got == [[1, '1 "Quoted", Lane\nBack', "", None], [2, "2 High St", None, "Ünïcødé"]]


def test_fact_staging_collects_dates_and_newest_update(warehouse_db: Any, make: Any) -> None:
    late = dt.datetime(2024, 1, 5, 8, 0, 0, 1)
    rows = [
        make.sales_order(1, design_id=3),
        make.sales_order(2, updated=late, design_id=4),
        make.sales_order(3, updated=dt.datetime(2024, 1, 5, 7, 0), unit_price=Decimal("-0.05")),
    ]
    con = warehouse_db.connect()
    con.run("BEGIN")
    staged = stage_parquet(con, TABLES["fact_sales_order"], _parquet("fact_sales_order", rows), batch_rows=2)
    prices = con.run("SELECT unit_price FROM stg_fact_sales_order ORDER BY sales_order_id")
    con.run("ROLLBACK")
    assert "design_id" not in staged.distinct  # dimension keys stay in the database (upsert.infer_missing_members)
    assert staged.distinct["last_updated_date"] == {dt.date(2024, 1, 1), dt.date(2024, 1, 5)}
    assert staged.max_last_updated == late
    assert prices == [[Decimal("2.50")], [Decimal("2.50")], [Decimal("-0.05")]]


def test_read_failure_during_copy_is_a_clean_error(warehouse_db: Any, make: Any) -> None:
    data = bytearray(_parquet("dim_staff", [make.staff(i) for i in range(1, 101)], row_group_size=10).getvalue())
    # Corrupt the last row group's pages: the footer (and so the schema check) still reads
    # fine and the first batches stream, then decoding fails in the middle of the COPY.
    meta = pq.ParquetFile(io.BytesIO(bytes(data))).metadata
    last = meta.row_group(meta.num_row_groups - 1).column(0)
    for i in range(last.data_page_offset, last.data_page_offset + 16):
        data[i] ^= 0xFF
    source = io.BytesIO(bytes(data))
    con = warehouse_db.connect()
    con.run("BEGIN")
    with pytest.raises(ParquetSchemaError, match="reading the Parquet failed during COPY"):
        stage_parquet(con, TABLES["dim_staff"], source, batch_rows=10)
    con.run("ROLLBACK")
    assert con.run("SELECT 1") == [[1]]  # the connection survived the failed COPY


_PG_TYPE = {
    "int32": "integer",
    "string": "character varying",
    "date32[day]": "date",
    "time64[us]": "time without time zone",
    "decimal128(10, 2)": "numeric",
    "bool": "boolean",
}


def test_allow_list_matches_the_migrated_warehouse(warehouse_db: Any) -> None:
    for name, table in TABLES.items():
        rows = warehouse_db.admin.run(
            "SELECT column_name, data_type, is_nullable = 'YES' FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name = :t AND column_default IS NULL"
            " AND NOT column_name = ANY(:own) ORDER BY ordinal_position",
            t=name,
            own=list(FACT_WAREHOUSE_COLUMNS),
        )
        expected = [[c.name, _PG_TYPE[str(c.type)], c.nullable] for c in table.columns]
        assert rows == expected, name
