"""What every warehouse row must be, derived from the current source by this module's own SQL.

Never ``transform.*``: the pipeline's transform is what reconcile checks. Each checked
table is one ``TableCheck``: the warehouse table, the source table whose ids are its keys,
and per warehouse column one SQL expression over ``<source> s`` (plus ``joins``) that
derives it. The same expressions feed both the per-range hashes computed in the source
database and the rows read back for a range that differs, so there is one derivation.

To add a table: append a ``TableCheck`` to ``DIMENSIONS`` (upserted, one row per key) or
``FACTS`` (``versions`` = the surrogate key; the warehouse side is ``pipeline.<fact>_current``, the current version per
source id). Expressions are constants of this module (no value is interpolated); values
they need are bound parameters from ``source_params``. An expression must yield what the
warehouse column holds, in the same type, so the two rows hash alike; a source text date
is compared as the text itself (``text_date=True``) and parsed in Python only when read back.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import pycountry

NULL_LOCATION_PLACEHOLDER = "Unknown"  # docs/transform.md, sql/warehouse/001_star_schema.sql


class BadSourceValueError(ValueError):
    """A source value the pipeline must quarantine rather than load (e.g. a text date that is no date)."""


@dataclass(frozen=True)
class Derived:
    """One warehouse column and the SQL expression deriving it from the source."""

    column: str
    sql: str
    text_date: bool = False  # the source holds an ISO date as text: parsed (or refused) in Python


@dataclass(frozen=True)
class TableCheck:
    """One warehouse table and its derivation from the source (see the module docstring)."""

    table: str
    source: str
    columns: tuple[Derived, ...]  # the first is the key
    joins: str = ""
    versions: str | None = None  # facts: the surrogate key (the warehouse side is the current-state view)
    derive: Callable[[list[Any]], list[Any]] | None = None  # a last Python step on a row read back

    @property
    def key(self) -> str:
        return self.columns[0].column

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.column for c in self.columns)

    @property
    def skip_label(self) -> str:
        """How a skipped row is named: facts by their source table, dimensions by themselves."""
        return self.source if self.versions else self.table


def currency_name(code: str) -> str | None:
    """The ISO 4217 name of ``code`` (e.g. 'Pound Sterling'), or None if ISO does not know it.

    Exact match, as ISO writes codes (three upper-case letters): anything else is bad
    input that the pipeline quarantines (docs/transform.md), never a guessed name.
    """
    if not isinstance(code, str) or len(code) != 3 or not code.isupper():
        return None
    found = pycountry.currencies.get(alpha_3=code)
    return str(found.name) if found is not None else None


@cache
def _iso_currencies() -> tuple[list[str], list[str]]:
    codes = sorted(c.alpha_3 for c in pycountry.currencies if currency_name(c.alpha_3) is not None)
    return codes, [str(currency_name(c)) for c in codes]


def source_params() -> dict[str, Any]:
    """The values the derivations' SQL binds (a query takes the ones it names)."""
    codes, names = _iso_currencies()
    return {"placeholder": NULL_LOCATION_PLACEHOLDER, "iso_codes": codes, "iso_names": names}


def _iso_name(row: list[Any]) -> list[Any]:
    if row[2] is None:
        raise BadSourceValueError(f"not an ISO 4217 currency code: {row[1]!r}")
    return row


def _columns(*pairs: str) -> tuple[Derived, ...]:
    """``Derived`` columns from (warehouse column, expression) written as 'column=expression' or 'column'."""
    out = []
    for pair in pairs:
        column, _, sql = pair.partition("=")
        out.append(Derived(column, sql or f"s.{column}"))
    return tuple(out)


DIMENSIONS: tuple[TableCheck, ...] = (
    TableCheck(
        "dim_staff",
        "staff",
        _columns(
            "staff_id",
            "first_name",
            "last_name",
            "department_name=d.department_name",
            "location=COALESCE(d.location, :placeholder)",
            "email_address",
        ),
        joins="JOIN department d ON d.department_id = s.department_id",
    ),
    TableCheck(
        "dim_location",
        "address",
        _columns(
            "location_id=s.address_id",
            "address_line_1",
            "address_line_2",
            "district",
            "city",
            "postal_code",
            "country",
            "phone",
        ),
    ),
    TableCheck(
        "dim_currency",
        "currency",
        _columns("currency_id", "currency_code", "currency_name=iso.name"),
        # ISO 4217 names come from pycountry, bound as two arrays; an unknown code gets NULL.
        joins="LEFT JOIN unnest(CAST(:iso_codes AS text[]), CAST(:iso_names AS text[])) AS iso(code, name)"
        " ON iso.code = s.currency_code",
        derive=_iso_name,
    ),
    TableCheck("dim_design", "design", _columns("design_id", "design_name", "file_location", "file_name")),
    TableCheck(
        "dim_counterparty",
        "counterparty",
        _columns(
            "counterparty_id",
            "counterparty_legal_name",
            "counterparty_legal_address_line_1=a.address_line_1",
            "counterparty_legal_address_line_2=a.address_line_2",
            "counterparty_legal_district=a.district",
            "counterparty_legal_city=a.city",
            "counterparty_legal_postal_code=a.postal_code",
            "counterparty_legal_country=a.country",
            "counterparty_legal_phone_number=a.phone",
        ),
        joins="JOIN address a ON a.address_id = s.legal_address_id",
    ),
    TableCheck(
        "dim_payment_type", "payment_type", _columns("payment_type_id", "payment_type_name=s.payment_type_name::text")
    ),
    TableCheck(
        "dim_transaction",
        "transaction",
        _columns("transaction_id", "transaction_type=s.transaction_type::text", "sales_order_id", "purchase_order_id"),
    ),
)


def _times() -> tuple[Derived, ...]:
    return _columns("created_date=s.created_at::date", "created_time=s.created_at::time",
                    "last_updated_date=s.last_updated::date", "last_updated_time=s.last_updated::time")  # fmt: skip


def _text_date(column: str) -> Derived:
    # Compared as the source's text: a padded or otherwise non-canonical date never hashes
    # like the warehouse's ISO date, so its range is read back and judged in Python.
    return Derived(column, f"s.{column}::text", text_date=True)


FACTS: tuple[TableCheck, ...] = (
    TableCheck(
        "fact_sales_order",
        "sales_order",
        (
            *_columns("sales_order_id"),
            *_times(),
            *_columns(
                "sales_staff_id=s.staff_id", "counterparty_id", "units_sold", "unit_price", "currency_id", "design_id"
            ),
            _text_date("agreed_payment_date"),
            _text_date("agreed_delivery_date"),
            *_columns("agreed_delivery_location_id"),
        ),
        versions="sales_record_id",
    ),
    TableCheck(
        "fact_purchase_order",
        "purchase_order",
        (
            *_columns("purchase_order_id"),
            *_times(),
            *_columns("staff_id", "counterparty_id", "item_code", "item_quantity", "item_unit_price", "currency_id"),
            _text_date("agreed_delivery_date"),
            _text_date("agreed_payment_date"),
            *_columns("agreed_delivery_location_id"),
        ),
        versions="purchase_record_id",
    ),
    TableCheck(
        "fact_payment",
        "payment",
        (
            *_columns("payment_id"),
            *_times(),
            *_columns("transaction_id", "counterparty_id", "payment_amount", "currency_id", "payment_type_id", "paid"),
            _text_date("payment_date"),
        ),
        versions="payment_record_id",
    ),
)


def parse_text_date(value: Any) -> dt.date:
    """Parse a totesys text date (``YYYY-MM-DD``); raise BadSourceValueError if it is not one."""
    if not isinstance(value, str):
        raise BadSourceValueError(f"not a text date: {value!r}")
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise BadSourceValueError(f"not an ISO date: {value!r}") from exc


def derive_row(check: TableCheck, values: list[Any]) -> dict[str, Any]:
    """The warehouse row one row of the derivation's SQL must be (raises BadSourceValueError)."""
    values = [parse_text_date(v) if c.text_date else v for c, v in zip(check.columns, values, strict=True)]
    if check.derive is not None:
        values = check.derive(values)
    return dict(zip(check.column_names, values, strict=True))


def date_attributes(day: dt.date) -> dict[str, Any]:
    """The expected dim_date row of ``day`` (ISO day of week, English names)."""
    return {
        "date_id": day,
        "year": day.year,
        "month": day.month,
        "day": day.day,
        "day_of_week": day.isoweekday(),
        "day_name": calendar.day_name[day.weekday()],
        "month_name": calendar.month_name[day.month],
        "quarter": (day.month - 1) // 3 + 1,
    }
