"""Arrow schemas: how each source table is read and typed, and each warehouse table's Parquet.

The warehouse side comes from ``common.warehouse_tables`` (shared with load), which
mirrors ``sql/warehouse/001_star_schema.sql`` column for column:
``integer`` -> int32, ``numeric(10,2)`` -> decimal128(10,2), ``date`` -> date32,
``time`` -> time64[us], ``boolean`` -> bool, ``varchar`` -> string (never
large_string). NOT NULL columns are non-nullable fields. The facts' serial surrogate
keys are not in the Parquet: the warehouse assigns them on insert.
"""

from __future__ import annotations

from functools import cache

import pyarrow as pa

from common.source_tables import ColumnType, SourceTable
from common.value_domain import TYPED
from common.warehouse_tables import TABLES

# --- source side -------------------------------------------------------------

# How a JSON value of each contract type is read by pyarrow's JSON reader. Every
# non-integer, non-boolean value is read as the string the lake holds, so that the
# vectorised validation sees exactly what ingestion wrote (money never becomes a float).
_JSON_TYPE: dict[ColumnType, pa.DataType] = {
    ColumnType.INTEGER: pa.int64(),
    ColumnType.NUMERIC: pa.string(),
    ColumnType.TEXT: pa.string(),
    ColumnType.TEXT_DATE: pa.string(),
    ColumnType.TIMESTAMP: pa.string(),
    ColumnType.BOOLEAN: pa.bool_(),
    ColumnType.ENUM: pa.string(),
}

LINE_NO = "_line_no"  # 1-based line of the row in its ingest object; dropped before output


@cache
def json_read_schema(table: SourceTable) -> pa.Schema:
    """The explicit schema pyarrow's JSON reader parses ``table``'s lines with."""
    return pa.schema([pa.field(c.name, _JSON_TYPE[c.type]) for c in table.columns])


@cache
def source_schema(table: SourceTable) -> pa.Schema:
    """The typed schema of a validated source row (also the snapshot's schema)."""
    return pa.schema([pa.field(c.name, TYPED[c.type], nullable=c.nullable) for c in table.columns])


# --- warehouse side ----------------------------------------------------------


# Parquet schemas of the warehouse tables: one definition shared with the load stage
# (common.warehouse_tables).
WAREHOUSE_SCHEMAS: dict[str, pa.Schema] = {name: table.schema for name, table in TABLES.items()}
