"""The warehouse contract: the eleven star tables, their columns and Arrow types.

One definition serves both sides of the processed bucket: transform writes Parquet
with exactly these schemas, and load takes every identifier it puts into SQL from
here (quoted with ``pg8000.native.identifier``), never from a Parquet file or an
event. The types mirror ``sql/warehouse/001_star_schema.sql`` exactly; functional
tests compare this module with the migrated database's ``information_schema``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import pyarrow as pa


class Kind(StrEnum):
    """How a table is written: dimensions are upserted (type 1), facts appended."""

    DIMENSION = "dimension"
    DATE = "date"  # dim_date: insert-if-missing, never updated (a date's attributes never change)
    FACT = "fact"


@dataclass(frozen=True)
class Col:
    """One loadable column: its name, Arrow type and whether NULL is allowed."""

    name: str
    type: pa.DataType
    nullable: bool = False


@dataclass(frozen=True)
class WarehouseTable:
    """One warehouse table as the loader sees it.

    ``columns`` are the columns the Parquet carries (for facts: everything except
    the serial surrogate key). ``references`` maps a fact column to the dimension it
    points at; ``placeholder`` gives an inferred dimension member's values.
    """

    name: str
    kind: Kind
    key: str  # dimensions: the primary key; facts: the source id
    columns: tuple[Col, ...]
    references: dict[str, str] = field(default_factory=dict)
    date_columns: tuple[str, ...] = ()
    placeholder: dict[str, str] = field(default_factory=dict)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required(self) -> tuple[str, ...]:
        """Columns declared NOT NULL in the warehouse."""
        return tuple(c.name for c in self.columns if not c.nullable)

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.type, nullable=c.nullable) for c in self.columns])

    @property
    def surrogate_key(self) -> str:
        """A fact's serial key: in the DDL, deliberately absent from the Parquet."""
        if self.kind is not Kind.FACT:
            raise ValueError(f"{self.name} is not a fact table")
        return FACT_SURROGATE_KEYS[self.name]

    @property
    def version_constraint(self) -> str:
        """The unique constraint that makes a fact version unique (009_version_key_without_hash.sql)."""
        if self.kind is not Kind.FACT:
            raise ValueError(f"{self.name} is not a fact table")
        return f"{self.name}_version_uq"

    @property
    def version_columns(self) -> tuple[str, ...]:
        """The version constraint's columns: (source id, last_updated, every other column, is_deleted).

        The content itself is part of the key (009_version_key_without_hash.sql): a correction
        that kept its last_updated is a new version, an identical one is the same version.
        """
        if self.kind is not Kind.FACT:
            raise ValueError(f"{self.name} is not a fact table")
        when = ("last_updated_date", "last_updated_time")
        rest = tuple(c for c in self.column_names if c != self.key and c not in when)
        return (self.key, *when, *rest, IS_DELETED)


# The serial surrogate key of each fact (assigned by the warehouse on insert).
FACT_SURROGATE_KEYS: dict[str, str] = {
    "fact_sales_order": "sales_record_id",
    "fact_purchase_order": "purchase_record_id",
    "fact_payment": "payment_record_id",
}

# Fact columns the warehouse fills itself, absent from the Parquet like the surrogate key
# (005_deletions_and_corrections.sql): ``is_deleted`` defaults to false (load writes the
# deletion versions, SPEC §2 "Deletion").
IS_DELETED = "is_deleted"
FACT_WAREHOUSE_COLUMNS: tuple[str, ...] = (IS_DELETED,)

_I, _S, _D, _T, _B = pa.int32(), pa.string(), pa.date32(), pa.time64("us"), pa.bool_()
_MONEY = pa.decimal128(10, 2)
# An inferred member's text: obviously not real data, and searchable.
UNKNOWN = "Unknown (inferred)"

_FACT_TIMES = (
    Col("created_date", _D),
    Col("created_time", _T),
    Col("last_updated_date", _D),
    Col("last_updated_time", _T),
)

# In load order: dimensions before facts, so every fact's references resolve inside
# the same transaction (LOAD_ORDER below is this order).
TABLES: dict[str, WarehouseTable] = {
    t.name: t
    for t in (
        WarehouseTable(
            "dim_date",
            Kind.DATE,
            "date_id",
            (
                Col("date_id", _D),
                Col("year", _I),
                Col("month", _I),
                Col("day", _I),
                Col("day_of_week", _I),
                Col("day_name", _S),
                Col("month_name", _S),
                Col("quarter", _I),
            ),
        ),
        WarehouseTable(
            "dim_location",
            Kind.DIMENSION,
            "location_id",
            (
                Col("location_id", _I),
                Col("address_line_1", _S),
                Col("address_line_2", _S, nullable=True),
                Col("district", _S, nullable=True),
                Col("city", _S),
                Col("postal_code", _S),
                Col("country", _S),
                Col("phone", _S),
            ),
            placeholder={
                "address_line_1": UNKNOWN,
                "city": UNKNOWN,
                "postal_code": UNKNOWN,
                "country": UNKNOWN,
                "phone": UNKNOWN,
            },
        ),
        WarehouseTable(
            "dim_counterparty",
            Kind.DIMENSION,
            "counterparty_id",
            (
                Col("counterparty_id", _I),
                Col("counterparty_legal_name", _S),
                Col("counterparty_legal_address_line_1", _S),
                Col("counterparty_legal_address_line_2", _S, nullable=True),
                Col("counterparty_legal_district", _S, nullable=True),
                Col("counterparty_legal_city", _S),
                Col("counterparty_legal_postal_code", _S),
                Col("counterparty_legal_country", _S),
                Col("counterparty_legal_phone_number", _S),
            ),
            placeholder={
                "counterparty_legal_name": UNKNOWN,
                "counterparty_legal_address_line_1": UNKNOWN,
                "counterparty_legal_city": UNKNOWN,
                "counterparty_legal_postal_code": UNKNOWN,
                "counterparty_legal_country": UNKNOWN,
                "counterparty_legal_phone_number": UNKNOWN,
            },
        ),
        WarehouseTable(
            "dim_currency",
            Kind.DIMENSION,
            "currency_id",
            (Col("currency_id", _I), Col("currency_code", _S), Col("currency_name", _S)),
            # XXX is ISO 4217's code for "no currency".
            placeholder={"currency_code": "XXX", "currency_name": UNKNOWN},
        ),
        WarehouseTable(
            "dim_design",
            Kind.DIMENSION,
            "design_id",
            (Col("design_id", _I), Col("design_name", _S), Col("file_location", _S), Col("file_name", _S)),
            placeholder={"design_name": UNKNOWN, "file_location": UNKNOWN, "file_name": UNKNOWN},
        ),
        WarehouseTable(
            "dim_staff",
            Kind.DIMENSION,
            "staff_id",
            (
                Col("staff_id", _I),
                Col("first_name", _S),
                Col("last_name", _S),
                Col("department_name", _S),
                Col("location", _S),
                Col("email_address", _S),
            ),
            placeholder={
                "first_name": UNKNOWN,
                "last_name": UNKNOWN,
                "department_name": UNKNOWN,
                "location": UNKNOWN,
                "email_address": UNKNOWN,
            },
        ),
        WarehouseTable(
            "dim_payment_type",
            Kind.DIMENSION,
            "payment_type_id",
            (Col("payment_type_id", _I), Col("payment_type_name", _S)),
            placeholder={"payment_type_name": UNKNOWN},
        ),
        WarehouseTable(
            "dim_transaction",
            Kind.DIMENSION,
            "transaction_id",
            (
                Col("transaction_id", _I),
                Col("transaction_type", _S),
                Col("sales_order_id", _I, nullable=True),
                Col("purchase_order_id", _I, nullable=True),
            ),
            placeholder={"transaction_type": UNKNOWN},
        ),
        WarehouseTable(
            "fact_sales_order",
            Kind.FACT,
            "sales_order_id",
            (
                Col("sales_order_id", _I),
                *_FACT_TIMES,
                Col("sales_staff_id", _I),
                Col("counterparty_id", _I),
                Col("units_sold", _I),
                Col("unit_price", _MONEY),
                Col("currency_id", _I),
                Col("design_id", _I),
                Col("agreed_payment_date", _D),
                Col("agreed_delivery_date", _D),
                Col("agreed_delivery_location_id", _I),
            ),
            references={
                "sales_staff_id": "dim_staff",
                "counterparty_id": "dim_counterparty",
                "currency_id": "dim_currency",
                "design_id": "dim_design",
                "agreed_delivery_location_id": "dim_location",
            },
            date_columns=("created_date", "last_updated_date", "agreed_payment_date", "agreed_delivery_date"),
        ),
        WarehouseTable(
            "fact_purchase_order",
            Kind.FACT,
            "purchase_order_id",
            (
                Col("purchase_order_id", _I),
                *_FACT_TIMES,
                Col("staff_id", _I),
                Col("counterparty_id", _I),
                Col("item_code", _S),
                Col("item_quantity", _I),
                Col("item_unit_price", _MONEY),
                Col("currency_id", _I),
                Col("agreed_delivery_date", _D),
                Col("agreed_payment_date", _D),
                Col("agreed_delivery_location_id", _I),
            ),
            references={
                "staff_id": "dim_staff",
                "counterparty_id": "dim_counterparty",
                "currency_id": "dim_currency",
                "agreed_delivery_location_id": "dim_location",
            },
            date_columns=("created_date", "last_updated_date", "agreed_delivery_date", "agreed_payment_date"),
        ),
        WarehouseTable(
            "fact_payment",
            Kind.FACT,
            "payment_id",
            (
                Col("payment_id", _I),
                *_FACT_TIMES,
                Col("transaction_id", _I),
                Col("counterparty_id", _I),
                Col("payment_amount", _MONEY),
                Col("currency_id", _I),
                Col("payment_type_id", _I),
                Col("paid", _B),
                Col("payment_date", _D),
            ),
            references={
                "transaction_id": "dim_transaction",
                "counterparty_id": "dim_counterparty",
                "currency_id": "dim_currency",
                "payment_type_id": "dim_payment_type",
            },
            date_columns=("created_date", "last_updated_date", "payment_date"),
        ),
    )
}

LOAD_ORDER: tuple[str, ...] = tuple(TABLES)
DIMENSIONS: tuple[str, ...] = tuple(n for n in LOAD_ORDER if TABLES[n].kind is Kind.DIMENSION)
FACTS: tuple[str, ...] = tuple(n for n in LOAD_ORDER if TABLES[n].kind is Kind.FACT)
