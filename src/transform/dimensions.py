"""Dimension rows from the current state of their source tables (SPEC §2).

Each ``build_dim_*`` is a pure function of Arrow tables with the typed source schema
(``schemas.source_schema``), so it can be tested with tiny hand-written tables. A
join that finds no parent returns the unmatched child ids separately: the caller
quarantines those rows instead of emitting a dimension row with holes in NOT NULL
columns. Which rows to (re-)emit is decided by ``affected``: a row changed in this
run, or a row whose parent changed (a department rename re-emits all its staff).
``FEEDS`` at the end is the one table of which source tables feed which dimension;
``transform.dimension_plan`` derives the rest from it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from transform.currency import currency_names
from transform.schemas import WAREHOUSE_SCHEMAS

# dim_staff.location is NOT NULL but department.location is nullable in the source:
# a NULL becomes this documented placeholder (docs/transform.md).
UNKNOWN_LOCATION = "Unknown"


class DimensionSchemaError(ValueError):
    """A built dimension does not fit its warehouse schema (a bug, never bad input)."""


def conform(columns: dict[str, pa.Array | pa.ChunkedArray], name: str) -> pa.Table:
    """Assemble ``columns`` as warehouse table ``name``: exact types, order and nullability.

    Raises
    ------
    DimensionSchemaError
        If a NOT NULL column holds a null: callers must have rejected such rows first.
    """
    schema = WAREHOUSE_SCHEMAS[name]
    arrays = []
    for field in schema:
        arr = columns[field.name]
        if not field.nullable and arr.null_count:
            raise DimensionSchemaError(f"{name}.{field.name} is NOT NULL but {arr.null_count} values are null")
        arrays.append(arr.cast(field.type) if arr.type != field.type else arr)
    return pa.Table.from_arrays(arrays, schema=schema)


def affected(
    rows: pa.Table, changed_ids: pa.Array, key: str, fk: str | None = None, changed_parents: pa.Array | None = None
) -> pa.Table:
    """The rows of ``rows`` whose ``key`` changed, or whose parent ``fk`` is in ``changed_parents``."""
    mask = pc.is_in(rows.column(key), value_set=changed_ids)
    if fk is not None and changed_parents is not None and len(changed_parents):
        mask = pc.or_(mask, pc.is_in(rows.column(fk), value_set=changed_parents))
    return rows.filter(mask)


def _join(
    child: pa.Table, fk: str, parent: pa.Table, parent_key: str, child_key: str
) -> tuple[pa.Table, pa.Array, pa.Array]:
    """The ``child`` rows whose ``fk`` has a parent, with each one's parent row position, and
    the ``child_key`` of the rows whose parent is missing (to quarantine)."""
    pos = pc.index_in(child.column(fk), value_set=parent.column(parent_key).combine_chunks())
    found = pc.is_valid(pos)
    unmatched = child.column(child_key).filter(pc.invert(found)).combine_chunks()
    return child.filter(found), pos.filter(found), unmatched


def build_dim_location(address: pa.Table) -> pa.Table:
    """dim_location: address rows, ``address_id`` as ``location_id``."""
    cols = {c: address.column(c) for c in WAREHOUSE_SCHEMAS["dim_location"].names if c != "location_id"}
    return conform({"location_id": address.column("address_id"), **cols}, "dim_location")


def build_dim_design(design: pa.Table) -> pa.Table:
    """dim_design: design rows as they are."""
    return conform({c: design.column(c) for c in WAREHOUSE_SCHEMAS["dim_design"].names}, "dim_design")


def build_dim_payment_type(payment_type: pa.Table) -> pa.Table:
    """dim_payment_type: the enum label as a string."""
    return conform({c: payment_type.column(c) for c in WAREHOUSE_SCHEMAS["dim_payment_type"].names}, "dim_payment_type")


def build_dim_transaction(transaction: pa.Table) -> pa.Table:
    """dim_transaction: type label plus the (nullable) sales/purchase order ids."""
    return conform({c: transaction.column(c) for c in WAREHOUSE_SCHEMAS["dim_transaction"].names}, "dim_transaction")


def build_dim_currency(currency: pa.Table) -> tuple[pa.Table, pa.Array]:
    """dim_currency with the ISO 4217 name of each code.

    Returns
    -------
    dim : pyarrow.Table
        Rows whose code ISO 4217 knows.
    unknown : pyarrow.Array
        ``currency_id`` of rows whose code it does not (bad input: quarantine them).
    """
    names = currency_names(currency.column("currency_code"))
    known = pc.is_valid(names)
    dim = conform(
        {
            "currency_id": currency.column("currency_id").filter(known),
            "currency_code": currency.column("currency_code").filter(known),
            "currency_name": names.filter(known),
        },
        "dim_currency",
    )
    return dim, currency.column("currency_id").filter(pc.invert(known)).combine_chunks()


def build_dim_staff(staff: pa.Table, department: pa.Table) -> tuple[pa.Table, pa.Array]:
    """dim_staff: staff joined to their department on ``department_id``.

    A NULL department location becomes ``UNKNOWN_LOCATION``.

    Returns
    -------
    dim : pyarrow.Table
        Staff whose department is known.
    unmatched : pyarrow.Array
        ``staff_id`` of staff whose department is not (quarantine them).
    """
    staff, pos, unmatched = _join(staff, "department_id", department, "department_id", "staff_id")
    dim = conform(
        {
            "staff_id": staff.column("staff_id"),
            "first_name": staff.column("first_name"),
            "last_name": staff.column("last_name"),
            "department_name": pc.take(department.column("department_name"), pos),
            "location": pc.fill_null(pc.take(department.column("location"), pos), UNKNOWN_LOCATION),
            "email_address": staff.column("email_address"),
        },
        "dim_staff",
    )
    return dim, unmatched


def build_dim_counterparty(counterparty: pa.Table, address: pa.Table) -> tuple[pa.Table, pa.Array]:
    """dim_counterparty: counterparty joined to its legal address on ``legal_address_id``.

    The commercial and delivery contacts are dropped (not in the warehouse).

    Returns
    -------
    dim : pyarrow.Table
        Counterparties whose legal address is known.
    unmatched : pyarrow.Array
        ``counterparty_id`` of those whose address is not (quarantine them).
    """
    counterparty, pos, unmatched = _join(counterparty, "legal_address_id", address, "address_id", "counterparty_id")

    def addr(column: str) -> pa.ChunkedArray:
        return pc.take(address.column(column), pos)

    dim = conform(
        {
            "counterparty_id": counterparty.column("counterparty_id"),
            "counterparty_legal_name": counterparty.column("counterparty_legal_name"),
            "counterparty_legal_address_line_1": addr("address_line_1"),
            "counterparty_legal_address_line_2": addr("address_line_2"),
            "counterparty_legal_district": addr("district"),
            "counterparty_legal_city": addr("city"),
            "counterparty_legal_postal_code": addr("postal_code"),
            "counterparty_legal_country": addr("country"),
            "counterparty_legal_phone_number": addr("phone"),
        },
        "dim_counterparty",
    )
    return dim, unmatched


# -- which source tables feed which dimension ---------------------------------------


@dataclass(frozen=True)
class Feed:
    """A dimension and the source table(s) it is built from.

    ``build(rows)`` returns the dimension rows, or ``(rows, rejected ids)`` when
    ``rejects`` names why it can refuse some; with a ``parent``, ``build(rows,
    parent_state)`` joins the parent on ``foreign_key`` (a row whose parent is unknown
    is quarantined and kept out of the state).
    """

    dimension: str
    source: str
    build: Callable[..., Any]
    parent: str | None = None
    foreign_key: str | None = None
    rejects: str | None = None  # the quarantine reason for the ids ``build`` refuses


FEEDS: tuple[Feed, ...] = (
    Feed("dim_location", "address", build_dim_location),
    Feed("dim_counterparty", "counterparty", build_dim_counterparty, "address", "legal_address_id"),
    Feed("dim_staff", "staff", build_dim_staff, "department", "department_id"),
    Feed("dim_currency", "currency", build_dim_currency, rejects="unknown ISO 4217 currency code"),
    Feed("dim_design", "design", build_dim_design),
    Feed("dim_payment_type", "payment_type", build_dim_payment_type),
    Feed("dim_transaction", "transaction", build_dim_transaction),
)
