"""Arrow schemas: how each source table is read and typed, and each warehouse table's Parquet.

The warehouse schemas mirror ``sql/warehouse/001_star_schema.sql`` column for column
(a functional test compares them with the migrated database's information_schema):
``integer`` -> int32, ``numeric(10,2)`` -> decimal128(10,2), ``date`` -> date32,
``time`` -> time64[us], ``boolean`` -> bool, ``varchar`` -> string (never
large_string, which the loader's COPY path would not expect). NOT NULL columns are
non-nullable fields. The facts' serial surrogate keys are not in the Parquet: the
warehouse assigns them on insert.
"""

from __future__ import annotations

import pyarrow as pa

from common.source_tables import ColumnType, SourceTable

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

# What each contract type becomes once validated.
_TYPED: dict[ColumnType, pa.DataType] = {
    ColumnType.INTEGER: pa.int32(),
    ColumnType.NUMERIC: pa.decimal128(10, 2),
    ColumnType.TEXT: pa.string(),
    ColumnType.TEXT_DATE: pa.date32(),
    ColumnType.TIMESTAMP: pa.timestamp("us"),
    ColumnType.BOOLEAN: pa.bool_(),
    ColumnType.ENUM: pa.string(),
}

LINE_NO = "_line_no"  # 1-based line of the row in its ingest object; dropped before output


def json_read_schema(table: SourceTable) -> pa.Schema:
    """The explicit schema pyarrow's JSON reader parses ``table``'s lines with."""
    return pa.schema([pa.field(c.name, _JSON_TYPE[c.type]) for c in table.columns])


def source_schema(table: SourceTable) -> pa.Schema:
    """The typed schema of a validated source row (also the snapshot's schema)."""
    return pa.schema([pa.field(c.name, _TYPED[c.type], nullable=c.nullable) for c in table.columns])


# --- warehouse side ----------------------------------------------------------


def _f(name: str, type_: pa.DataType, nullable: bool = False) -> pa.Field:
    return pa.field(name, type_, nullable=nullable)


_I, _S, _D, _T = pa.int32(), pa.string(), pa.date32(), pa.time64("us")
_MONEY = pa.decimal128(10, 2)

WAREHOUSE_SCHEMAS: dict[str, pa.Schema] = {
    "dim_date": pa.schema(
        [
            _f("date_id", _D),
            _f("year", _I),
            _f("month", _I),
            _f("day", _I),
            _f("day_of_week", _I),
            _f("day_name", _S),
            _f("month_name", _S),
            _f("quarter", _I),
        ]
    ),
    "dim_staff": pa.schema(
        [
            _f("staff_id", _I),
            _f("first_name", _S),
            _f("last_name", _S),
            _f("department_name", _S),
            _f("location", _S),
            _f("email_address", _S),
        ]
    ),
    "dim_location": pa.schema(
        [
            _f("location_id", _I),
            _f("address_line_1", _S),
            _f("address_line_2", _S, nullable=True),
            _f("district", _S, nullable=True),
            _f("city", _S),
            _f("postal_code", _S),
            _f("country", _S),
            _f("phone", _S),
        ]
    ),
    "dim_currency": pa.schema([_f("currency_id", _I), _f("currency_code", _S), _f("currency_name", _S)]),
    "dim_design": pa.schema([_f("design_id", _I), _f("design_name", _S), _f("file_location", _S), _f("file_name", _S)]),
    "dim_counterparty": pa.schema(
        [
            _f("counterparty_id", _I),
            _f("counterparty_legal_name", _S),
            _f("counterparty_legal_address_line_1", _S),
            _f("counterparty_legal_address_line_2", _S, nullable=True),
            _f("counterparty_legal_district", _S, nullable=True),
            _f("counterparty_legal_city", _S),
            _f("counterparty_legal_postal_code", _S),
            _f("counterparty_legal_country", _S),
            _f("counterparty_legal_phone_number", _S),
        ]
    ),
    "dim_payment_type": pa.schema([_f("payment_type_id", _I), _f("payment_type_name", _S)]),
    "dim_transaction": pa.schema(
        [
            _f("transaction_id", _I),
            _f("transaction_type", _S),
            _f("sales_order_id", _I, nullable=True),
            _f("purchase_order_id", _I, nullable=True),
        ]
    ),
    "fact_sales_order": pa.schema(
        [
            _f("sales_order_id", _I),
            _f("created_date", _D),
            _f("created_time", _T),
            _f("last_updated_date", _D),
            _f("last_updated_time", _T),
            _f("sales_staff_id", _I),
            _f("counterparty_id", _I),
            _f("units_sold", _I),
            _f("unit_price", _MONEY),
            _f("currency_id", _I),
            _f("design_id", _I),
            _f("agreed_payment_date", _D),
            _f("agreed_delivery_date", _D),
            _f("agreed_delivery_location_id", _I),
        ]
    ),
    "fact_purchase_order": pa.schema(
        [
            _f("purchase_order_id", _I),
            _f("created_date", _D),
            _f("created_time", _T),
            _f("last_updated_date", _D),
            _f("last_updated_time", _T),
            _f("staff_id", _I),
            _f("counterparty_id", _I),
            _f("item_code", _S),
            _f("item_quantity", _I),
            _f("item_unit_price", _MONEY),
            _f("currency_id", _I),
            _f("agreed_delivery_date", _D),
            _f("agreed_payment_date", _D),
            _f("agreed_delivery_location_id", _I),
        ]
    ),
    "fact_payment": pa.schema(
        [
            _f("payment_id", _I),
            _f("created_date", _D),
            _f("created_time", _T),
            _f("last_updated_date", _D),
            _f("last_updated_time", _T),
            _f("transaction_id", _I),
            _f("counterparty_id", _I),
            _f("payment_amount", _MONEY),
            _f("currency_id", _I),
            _f("payment_type_id", _I),
            _f("paid", pa.bool_()),
            _f("payment_date", _D),
        ]
    ),
}

# The serial surrogate key of each fact: in the DDL, deliberately absent from the Parquet.
FACT_SURROGATE_KEYS: dict[str, str] = {
    "fact_sales_order": "sales_record_id",
    "fact_purchase_order": "purchase_record_id",
    "fact_payment": "payment_record_id",
}

# Warehouse tables in the order load should apply them (dimensions before facts).
WAREHOUSE_TABLE_ORDER: tuple[str, ...] = (
    "dim_date",
    "dim_location",
    "dim_counterparty",
    "dim_currency",
    "dim_design",
    "dim_staff",
    "dim_payment_type",
    "dim_transaction",
    "fact_sales_order",
    "fact_purchase_order",
    "fact_payment",
)

# Source tables whose current state transform keeps as snapshots (dimension sources).
SNAPSHOT_TABLES: tuple[str, ...] = (
    "address",
    "department",
    "counterparty",
    "staff",
    "currency",
    "design",
    "payment_type",
    "transaction",
)

# Source tables that become facts, and the fact each becomes.
FACT_SOURCES: dict[str, str] = {
    "sales_order": "fact_sales_order",
    "purchase_order": "fact_purchase_order",
    "payment": "fact_payment",
}
