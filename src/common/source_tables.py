"""The source contract: the eleven totesys tables the pipeline reads, and their columns.

This is the allow-list of identifiers. Every table or column name that reaches SQL
comes from here, never from input. ``_prisma_migrations`` is deliberately absent.
The column types mirror ``sql/totesys/schema.sql`` (SPEC §1); a test keeps the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ColumnType(StrEnum):
    """How a source column is typed, which decides how it is serialised and parsed."""

    INTEGER = "integer"
    NUMERIC = "numeric"  # numeric(10,2): carried as a string in JSON, Decimal in Python
    TEXT = "text"
    TEXT_DATE = "text_date"  # an ISO date stored as text: may fail to parse (bad input)
    TIMESTAMP = "timestamp"  # timestamp(3) without time zone, UTC by convention
    BOOLEAN = "boolean"
    ENUM = "enum"


@dataclass(frozen=True)
class Column:
    """One source column."""

    name: str
    type: ColumnType
    nullable: bool = False


@dataclass(frozen=True)
class SourceTable:
    """One source table: its name, primary key and columns in DDL order."""

    name: str
    columns: tuple[Column, ...]

    @property
    def primary_key(self) -> str:
        return f"{self.name}_id"

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")


def _table(name: str, *middle: Column) -> SourceTable:
    """Every table starts with its serial id and ends with created_at/last_updated."""
    return SourceTable(
        name=name,
        columns=(
            Column(f"{name}_id", ColumnType.INTEGER),
            *middle,
            Column("created_at", ColumnType.TIMESTAMP),
            Column("last_updated", ColumnType.TIMESTAMP),
        ),
    )


_I, _N, _T, _D = ColumnType.INTEGER, ColumnType.NUMERIC, ColumnType.TEXT, ColumnType.TEXT_DATE

# In TABLE_ORDER (below): parents before children.
SOURCE_TABLES: dict[str, SourceTable] = {
    t.name: t
    for t in (
        _table(
            "address",
            Column("address_line_1", _T),
            Column("address_line_2", _T, nullable=True),
            Column("district", _T, nullable=True),
            Column("city", _T),
            Column("postal_code", _T),
            Column("country", _T),
            Column("phone", _T),
        ),
        _table(
            "counterparty",
            Column("counterparty_legal_name", _T),
            Column("legal_address_id", _I),
            Column("commercial_contact", _T, nullable=True),
            Column("delivery_contact", _T, nullable=True),
        ),
        _table("currency", Column("currency_code", _T)),
        _table(
            "department",
            Column("department_name", _T),
            Column("location", _T, nullable=True),
            Column("manager", _T, nullable=True),
        ),
        _table(
            "design",
            Column("design_name", _T),
            Column("file_location", _T),
            Column("file_name", _T),
        ),
        _table(
            "staff",
            Column("first_name", _T),
            Column("last_name", _T),
            Column("department_id", _I),
            Column("email_address", _T),
        ),
        _table("payment_type", Column("payment_type_name", ColumnType.ENUM)),
        _table(
            "sales_order",
            Column("design_id", _I),
            Column("staff_id", _I),
            Column("counterparty_id", _I),
            Column("units_sold", _I),
            Column("unit_price", _N),
            Column("currency_id", _I),
            Column("agreed_delivery_date", _D),
            Column("agreed_payment_date", _D),
            Column("agreed_delivery_location_id", _I),
        ),
        _table(
            "purchase_order",
            Column("staff_id", _I),
            Column("counterparty_id", _I),
            Column("item_code", _T),
            Column("item_quantity", _I),
            Column("item_unit_price", _N),
            Column("currency_id", _I),
            Column("agreed_delivery_date", _D),
            Column("agreed_payment_date", _D),
            Column("agreed_delivery_location_id", _I),
        ),
        _table(
            "transaction",
            Column("transaction_type", ColumnType.ENUM),
            Column("sales_order_id", _I, nullable=True),
            Column("purchase_order_id", _I, nullable=True),
        ),
        _table(
            "payment",
            Column("transaction_id", _I),
            Column("counterparty_id", _I),
            Column("payment_amount", _N),
            Column("currency_id", _I),
            Column("payment_type_id", _I),
            Column("paid", ColumnType.BOOLEAN),
            Column("payment_date", _D),
            Column("company_ac_number", _I),
            Column("counterparty_ac_number", _I),
        ),
    )
}

# Parents before children: the order the generator loads and the order FK checks resolve.
TABLE_ORDER: tuple[str, ...] = tuple(SOURCE_TABLES)

ENUM_VALUES: dict[str, tuple[str, ...]] = {
    "payment_type_name": ("SALES_RECEIPT", "SALES_REFUND", "PURCHASE_PAYMENT", "PURCHASE_REFUND"),
    "transaction_type": ("SALE", "PURCHASE"),
}


class UnknownTableError(ValueError):
    """A table name that is not in the allow-list reached code that would query it."""


def resolve_tables(names: str | None) -> tuple[SourceTable, ...]:
    """Turn a comma list from configuration into allow-listed tables, in TABLE_ORDER.

    ``None`` or an empty string means all eleven tables.
    """
    if not names or not names.strip():
        return tuple(SOURCE_TABLES[n] for n in TABLE_ORDER)
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    unknown = sorted(set(wanted) - set(SOURCE_TABLES))
    if unknown:
        raise UnknownTableError(f"not in the source allow-list: {', '.join(unknown)}")
    return tuple(SOURCE_TABLES[n] for n in TABLE_ORDER if n in wanted)
