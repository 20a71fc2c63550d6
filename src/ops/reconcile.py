"""Compare the warehouse with totesys, independently of the transform code.

The pipeline's own transform is what we want to check, so this module derives every
expected warehouse row again from the *current* source with its own SQL and a few
lines of Python, and never imports ``transform.*``. What it asserts (SPEC §2, §3):

* every dimension row equals its derivation from the source (and no member is
  missing or extra); ``dim_staff.location`` uses the documented placeholder
  ``'Unknown'`` for a NULL department location; ``dim_currency.currency_name`` is
  the ISO 4217 name of the code (pycountry); a code ISO does not know is bad input;
* every ``dim_date`` row has the right attributes, and every date a fact references
  has a ``dim_date`` row;
* the latest fact version of every source row (latest by ``last_updated``) equals the
  source row, all columns, timestamps split into date and time;
* every source row has a fact version, and no fact version (source id, last_updated)
  is stored twice.

A source row whose text date does not parse, or whose currency code is not ISO 4217,
is bad input: the pipeline quarantines it (SPEC §3, docs/transform.md), so it is
reported as skipped, not as a difference; so is a fact row that references such a
dimension member (the pipeline quarantines it for its dangling foreign key).
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pg8000.native
import pycountry
from pg8000.native import identifier

from common.warehouse_tables import TABLES

NULL_LOCATION_PLACEHOLDER = "Unknown"  # docs/transform.md, sql/warehouse/001_star_schema.sql


@dataclass(frozen=True)
class Difference:
    """One way the warehouse differs from its derivation from the source."""

    table: str
    key: str
    column: str
    expected: Any
    actual: Any

    def describe(self) -> str:
        return f"{self.table} [{self.key}] {self.column}: expected {self.expected!r}, actual {self.actual!r}"


@dataclass
class ReconcileReport:
    """The verdict: differences found, rows checked per table, bad source rows skipped."""

    differences: list[Difference] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)
    skipped_bad_input: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences

    def summary(self) -> str:
        if self.ok:
            total = sum(self.checked.values())
            return f"warehouse matches the source ({total} rows checked in {len(self.checked)} tables)"
        tables = sorted({d.table for d in self.differences})
        return f"{len(self.differences)} differences in {', '.join(tables)}"


# -- dimensions ---------------------------------------------------------------------


class BadSourceValueError(ValueError):
    """A source value the pipeline must quarantine rather than load (e.g. a text date that is no date)."""


@dataclass(frozen=True)
class DimensionSpec:
    """A dimension: its key, its columns in order, and the source query deriving them.

    ``source_sql`` returns the columns in the same order as ``columns``; it is a
    constant of this module (no value is interpolated).
    """

    table: str
    columns: tuple[str, ...]  # first column is the key
    source_sql: str
    derive: Callable[[list[Any]], list[Any]] | None = None

    @property
    def key(self) -> str:
        return self.columns[0]


def currency_name(code: str) -> str | None:
    """The ISO 4217 name of ``code`` (e.g. 'Pound Sterling'), or None if ISO does not know it.

    Exact match, as ISO writes codes (three upper-case letters): anything else is bad
    input that the pipeline quarantines (docs/transform.md), never a guessed name.
    """
    if not isinstance(code, str) or len(code) != 3 or not code.isupper():
        return None
    found = pycountry.currencies.get(alpha_3=code)
    return str(found.name) if found is not None else None


def _derive_currency(row: list[Any]) -> list[Any]:
    name = currency_name(row[1])
    if name is None:
        raise BadSourceValueError(f"not an ISO 4217 currency code: {row[1]!r}")
    return [row[0], row[1], name]


DIMENSIONS: tuple[DimensionSpec, ...] = (
    DimensionSpec(
        "dim_staff",
        ("staff_id", "first_name", "last_name", "department_name", "location", "email_address"),
        "SELECT s.staff_id, s.first_name, s.last_name, d.department_name,"
        " COALESCE(d.location, :placeholder), s.email_address"
        " FROM staff s JOIN department d ON d.department_id = s.department_id",
    ),
    DimensionSpec(
        "dim_location",
        ("location_id", "address_line_1", "address_line_2", "district", "city", "postal_code", "country", "phone"),
        "SELECT address_id, address_line_1, address_line_2, district, city, postal_code, country, phone FROM address",
    ),
    DimensionSpec(
        "dim_currency",
        ("currency_id", "currency_code", "currency_name"),
        "SELECT currency_id, currency_code FROM currency",
        derive=_derive_currency,
    ),
    DimensionSpec(
        "dim_design",
        ("design_id", "design_name", "file_location", "file_name"),
        "SELECT design_id, design_name, file_location, file_name FROM design",
    ),
    DimensionSpec(
        "dim_counterparty",
        (
            "counterparty_id",
            "counterparty_legal_name",
            "counterparty_legal_address_line_1",
            "counterparty_legal_address_line_2",
            "counterparty_legal_district",
            "counterparty_legal_city",
            "counterparty_legal_postal_code",
            "counterparty_legal_country",
            "counterparty_legal_phone_number",
        ),
        "SELECT c.counterparty_id, c.counterparty_legal_name, a.address_line_1, a.address_line_2, a.district,"
        " a.city, a.postal_code, a.country, a.phone"
        " FROM counterparty c JOIN address a ON a.address_id = c.legal_address_id",
    ),
    DimensionSpec(
        "dim_payment_type",
        ("payment_type_id", "payment_type_name"),
        "SELECT payment_type_id, payment_type_name::text FROM payment_type",
    ),
    DimensionSpec(
        "dim_transaction",
        ("transaction_id", "transaction_type", "sales_order_id", "purchase_order_id"),
        "SELECT transaction_id, transaction_type::text, sales_order_id, purchase_order_id FROM transaction",
    ),
)


# -- facts --------------------------------------------------------------------------

# How a fact column is derived from a source column.
COPY, DATE_OF, TIME_OF, TEXT_DATE = "copy", "date_of", "time_of", "text_date"


@dataclass(frozen=True)
class FactSpec:
    """A fact table: its source table, keys, and (warehouse column, source column, how) triples."""

    table: str
    source: str
    record_id: str
    key: str
    columns: tuple[tuple[str, str, str], ...]

    @property
    def warehouse_columns(self) -> tuple[str, ...]:
        return tuple(c[0] for c in self.columns)

    @property
    def source_columns(self) -> tuple[str, ...]:
        # Unique, in order: created_at feeds two warehouse columns.
        return tuple(dict.fromkeys(c[1] for c in self.columns))


_TIMES = (
    ("created_date", "created_at", DATE_OF),
    ("created_time", "created_at", TIME_OF),
    ("last_updated_date", "last_updated", DATE_OF),
    ("last_updated_time", "last_updated", TIME_OF),
)

FACTS: tuple[FactSpec, ...] = (
    FactSpec(
        "fact_sales_order",
        "sales_order",
        "sales_record_id",
        "sales_order_id",
        (
            ("sales_order_id", "sales_order_id", COPY),
            *_TIMES,
            ("sales_staff_id", "staff_id", COPY),
            ("counterparty_id", "counterparty_id", COPY),
            ("units_sold", "units_sold", COPY),
            ("unit_price", "unit_price", COPY),
            ("currency_id", "currency_id", COPY),
            ("design_id", "design_id", COPY),
            ("agreed_payment_date", "agreed_payment_date", TEXT_DATE),
            ("agreed_delivery_date", "agreed_delivery_date", TEXT_DATE),
            ("agreed_delivery_location_id", "agreed_delivery_location_id", COPY),
        ),
    ),
    FactSpec(
        "fact_purchase_order",
        "purchase_order",
        "purchase_record_id",
        "purchase_order_id",
        (
            ("purchase_order_id", "purchase_order_id", COPY),
            *_TIMES,
            ("staff_id", "staff_id", COPY),
            ("counterparty_id", "counterparty_id", COPY),
            ("item_code", "item_code", COPY),
            ("item_quantity", "item_quantity", COPY),
            ("item_unit_price", "item_unit_price", COPY),
            ("currency_id", "currency_id", COPY),
            ("agreed_delivery_date", "agreed_delivery_date", TEXT_DATE),
            ("agreed_payment_date", "agreed_payment_date", TEXT_DATE),
            ("agreed_delivery_location_id", "agreed_delivery_location_id", COPY),
        ),
    ),
    FactSpec(
        "fact_payment",
        "payment",
        "payment_record_id",
        "payment_id",
        (
            ("payment_id", "payment_id", COPY),
            *_TIMES,
            ("transaction_id", "transaction_id", COPY),
            ("counterparty_id", "counterparty_id", COPY),
            ("payment_amount", "payment_amount", COPY),
            ("currency_id", "currency_id", COPY),
            ("payment_type_id", "payment_type_id", COPY),
            ("paid", "paid", COPY),
            ("payment_date", "payment_date", TEXT_DATE),
        ),
    ),
)

DATE_COLUMNS = {
    "fact_sales_order": ("created_date", "last_updated_date", "agreed_payment_date", "agreed_delivery_date"),
    "fact_purchase_order": ("created_date", "last_updated_date", "agreed_delivery_date", "agreed_payment_date"),
    "fact_payment": ("created_date", "last_updated_date", "payment_date"),
}


def parse_text_date(value: Any) -> dt.date:
    """Parse a totesys text date (``YYYY-MM-DD``); raise BadSourceValueError if it is not one."""
    if not isinstance(value, str):
        raise BadSourceValueError(f"not a text date: {value!r}")
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError as exc:
        raise BadSourceValueError(f"not an ISO date: {value!r}") from exc


def derive_fact_row(spec: FactSpec, source_row: dict[str, Any]) -> dict[str, Any]:
    """The warehouse fact row one source row must become (pure; raises BadSourceValueError)."""
    out: dict[str, Any] = {}
    for column, source_column, how in spec.columns:
        value = source_row[source_column]
        if how == DATE_OF:
            out[column] = value.date()
        elif how == TIME_OF:
            out[column] = value.time()
        elif how == TEXT_DATE:
            out[column] = parse_text_date(value)
        else:
            out[column] = value
    return out


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


# -- comparison (pure) --------------------------------------------------------------


def _same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, Decimal) or isinstance(actual, Decimal):
        try:
            return Decimal(str(expected)) == Decimal(str(actual))
        except ArithmeticError:
            return False
    if isinstance(expected, bool) != isinstance(actual, bool):
        return False  # True == 1 in Python; a boolean column must hold a boolean
    return bool(expected == actual)


def compare_rows(
    table: str,
    key_column: str,
    columns: Sequence[str],
    expected: dict[Any, dict[str, Any]],
    actual: dict[Any, dict[str, Any]],
) -> list[Difference]:
    """Column-by-column differences between expected and actual rows, keyed by id."""
    diffs: list[Difference] = []
    for key in sorted(expected.keys() | actual.keys(), key=lambda k: (str(type(k)), k)):
        label = f"{key_column}={key}"
        if key not in actual:
            diffs.append(Difference(table, label, "<row>", "present", "missing"))
            continue
        if key not in expected:
            diffs.append(Difference(table, label, "<row>", "absent (not in source)", "present"))
            continue
        exp, act = expected[key], actual[key]
        for column in columns:
            e, a = exp.get(column), act.get(column)
            if not _same(e, a):
                diffs.append(Difference(table, label, column, e, a))
    return diffs


# -- reading ------------------------------------------------------------------------


def _rows(con: pg8000.native.Connection, sql: str, **params: Any) -> list[dict[str, Any]]:
    result = con.run(sql, **params)
    names = [c["name"] for c in con.columns or []]
    return [dict(zip(names, r, strict=True)) for r in result]


def _select(table: str, columns: Sequence[str]) -> str:
    # Identifiers come from this module's allow-lists (DIMENSIONS, FACTS), quoted anyway.
    return f"SELECT {', '.join(identifier(c) for c in columns)} FROM {identifier(table)}"  # noqa: S608  # nosec B608


def _reconcile_dimension(
    spec: DimensionSpec, source: pg8000.native.Connection, warehouse: pg8000.native.Connection, skipped: list[str]
) -> tuple[list[Difference], int, set[Any]]:
    params = {"placeholder": NULL_LOCATION_PLACEHOLDER} if ":placeholder" in spec.source_sql else {}
    expected: dict[Any, dict[str, Any]] = {}
    bad: set[Any] = set()
    for raw in source.run(spec.source_sql, **params):
        try:
            row = spec.derive(list(raw)) if spec.derive else list(raw)
        except BadSourceValueError as exc:
            bad.add(raw[0])
            skipped.append(f"{spec.table} {spec.key}={raw[0]}: {exc}")
            continue
        expected[row[0]] = dict(zip(spec.columns, row, strict=True))
    actual = {r[spec.key]: r for r in _rows(warehouse, _select(spec.table, spec.columns)) if r[spec.key] not in bad}
    return compare_rows(spec.table, spec.key, spec.columns, expected, actual), len(expected), bad


def _bad_reference(spec: FactSpec, fact_row: dict[str, Any], bad_members: dict[str, set[Any]]) -> str | None:
    """The reference of a fact row to a dimension member that was itself bad input, if any.

    The pipeline quarantines such a member, so the fact points at nothing and is
    quarantined too (docs/transform.md): bad input, not a difference.
    """
    for column, dimension in TABLES[spec.table].references.items():
        if fact_row[column] in bad_members.get(dimension, ()):
            return f"{column}={fact_row[column]} is a {dimension} member skipped as bad input"
    return None


def _reconcile_fact(
    spec: FactSpec,
    source: pg8000.native.Connection,
    warehouse: pg8000.native.Connection,
    report: ReconcileReport,
    bad_members: dict[str, set[Any]],
) -> None:
    expected: dict[Any, dict[str, Any]] = {}
    bad: set[Any] = set()
    for row in _rows(source, _select(spec.source, spec.source_columns)):
        try:
            derived = derive_fact_row(spec, row)
            reason = _bad_reference(spec, derived, bad_members)
            if reason is not None:
                raise BadSourceValueError(reason)
            expected[row[spec.key]] = derived
        except BadSourceValueError as exc:
            bad.add(row[spec.key])
            report.skipped_bad_input.append(f"{spec.source} {spec.key}={row[spec.key]}: {exc}")
    cols = ", ".join(identifier(c) for c in spec.warehouse_columns)
    key, rid = identifier(spec.key), identifier(spec.record_id)
    # Latest version by the source's own clock; the surrogate key breaks a tie only.
    order = f"{key}, last_updated_date DESC, last_updated_time DESC, {rid} DESC"
    latest_sql = f"SELECT DISTINCT ON ({key}) {cols} FROM {identifier(spec.table)} ORDER BY {order}"  # noqa: S608  # nosec B608
    actual = {r[spec.key]: r for r in _rows(warehouse, latest_sql) if r[spec.key] not in bad}
    report.differences += compare_rows(spec.table, spec.key, spec.warehouse_columns, expected, actual)
    version = f"{key}, last_updated_date, last_updated_time"
    dup_sql = f"SELECT {version}, count(*) FROM {identifier(spec.table)} GROUP BY 1, 2, 3 HAVING count(*) > 1"  # noqa: S608  # nosec B608
    for source_id, day, time, n in warehouse.run(dup_sql):
        label = f"{spec.key}={source_id} @ {day} {time}"
        report.differences.append(Difference(spec.table, label, "<version>", "stored once", f"stored {n} times"))
    report.checked[spec.table] = len(expected)


def _reconcile_dates(warehouse: pg8000.native.Connection, report: ReconcileReport) -> None:
    rows = {r["date_id"]: r for r in _rows(warehouse, _select("dim_date", tuple(date_attributes(dt.date.min))))}
    expected = {day: date_attributes(day) for day in rows}
    referenced: set[dt.date] = set()
    for table, columns in DATE_COLUMNS.items():
        for column in columns:
            sql = f"SELECT DISTINCT {identifier(column)} FROM {identifier(table)}"  # noqa: S608  # nosec B608
            referenced.update(r[0] for r in warehouse.run(sql))
    for day in referenced - rows.keys():
        expected[day] = date_attributes(day)
    report.differences += compare_rows("dim_date", "date_id", tuple(date_attributes(dt.date.min)), expected, rows)
    report.checked["dim_date"] = len(expected)


def reconcile(source: pg8000.native.Connection, warehouse: pg8000.native.Connection) -> ReconcileReport:
    """Compare the whole warehouse with the current source.

    Parameters
    ----------
    source
        A connection to totesys (read-only access is enough).
    warehouse
        A connection to the warehouse.

    Returns
    -------
    ReconcileReport
        ``ok`` is True when nothing differs; ``differences`` name table, key, column,
        expected and actual values.
    """
    report = ReconcileReport()
    # One snapshot per side, so rows changing while we read cannot fake a difference.
    for con in (source, warehouse):
        con.run("START TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
    try:
        bad_members: dict[str, set[Any]] = {}
        for spec in DIMENSIONS:
            diffs, n, bad_members[spec.table] = _reconcile_dimension(spec, source, warehouse, report.skipped_bad_input)
            report.differences += diffs
            report.checked[spec.table] = n
        for fact in FACTS:
            _reconcile_fact(fact, source, warehouse, report, bad_members)
        _reconcile_dates(warehouse, report)
    finally:
        for con in (source, warehouse):
            con.run("ROLLBACK")
    return report
