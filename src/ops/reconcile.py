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

A source row holding a value the warehouse cannot hold (``common.value_domain``, the
one definition transform quarantines by: a text date that is no date or lies outside
years 1-9999, an integer beyond int4, money that is not numeric(10,2), ...), or whose
currency code is not ISO 4217, is bad input: the pipeline quarantines it (SPEC §3,
docs/transform.md), so it is reported as skipped, not as a difference; so is a row
that references such a row (a fact's dimension member, a staff member's department,
a counterparty's address: the pipeline quarantines those for a dangling foreign key).

Skipping must never be a way to pass. The report counts per table the source rows,
the rows checked and the rows skipped as bad input, and the verdict fails when a
table's skipped share exceeds ``max_skipped_share`` (default 1 %), or when a source
column's type is not the contract's (SPEC §1): a retyped column is named, whatever
the pipeline made of it.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pg8000.native
import pyarrow as pa
import pycountry
from pg8000.native import identifier

from common.source_tables import SOURCE_TABLES, TABLE_ORDER, Column, ColumnType
from common.value_domain import bad_positions
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


DEFAULT_MAX_SKIPPED_SHARE = 0.01


@dataclass(frozen=True)
class TableCounts:
    """How much of one table's source was checked, and how much skipped as bad input."""

    source_rows: int
    checked: int
    skipped: int

    @property
    def skipped_share(self) -> float:
        return self.skipped / self.source_rows if self.source_rows else 0.0


@dataclass
class ReconcileReport:
    """The verdict: differences, per-table counts, bad source rows skipped, source columns off the contract."""

    differences: list[Difference] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)
    skipped_bad_input: list[str] = field(default_factory=list)
    counts: dict[str, TableCounts] = field(default_factory=dict)
    type_mismatches: list[str] = field(default_factory=list)
    max_skipped_share: float = DEFAULT_MAX_SKIPPED_SHARE

    def add_differences(self, table: str, diffs: list[Difference]) -> None:
        """Add ``table``'s differences (the streaming reconcile of issue 16 keeps this signature)."""
        self.differences += diffs

    def count(self, table: str, source_rows: int, skipped: int) -> None:
        """Record how many of ``table``'s source rows were checked and how many skipped as bad input."""
        self.counts[table] = TableCounts(source_rows, source_rows - skipped, skipped)
        self.checked[table] = source_rows - skipped

    @property
    def mostly_skipped(self) -> dict[str, TableCounts]:
        """Tables whose skipped share is above ``max_skipped_share``: too little was checked to pass."""
        return {t: c for t, c in self.counts.items() if c.skipped_share > self.max_skipped_share}

    @property
    def ok(self) -> bool:
        return not self.differences and not self.type_mismatches and not self.mostly_skipped

    def summary(self) -> str:
        if self.ok:
            total = sum(self.checked.values())
            skipped = sum(c.skipped for c in self.counts.values())
            return (
                f"warehouse matches the source ({total} rows checked in {len(self.checked)} tables,"
                f" {skipped} skipped as bad input)"
            )
        problems = []
        if self.differences:
            tables = sorted({d.table for d in self.differences})
            problems.append(f"{len(self.differences)} differences in {', '.join(tables)}")
        problems += self.type_mismatches
        limit = f"{self.max_skipped_share:.1%}"
        problems += [
            f"{t}: {c.skipped} of {c.source_rows} source rows skipped as bad input ({c.skipped_share:.1%} > {limit})"
            for t, c in sorted(self.mostly_skipped.items())
        ]
        return "; ".join(problems)


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
    source: str  # the source table whose rows are the members (keyed by the same id)
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
        "staff",
        ("staff_id", "first_name", "last_name", "department_name", "location", "email_address"),
        "SELECT s.staff_id, s.first_name, s.last_name, d.department_name,"
        " COALESCE(d.location, :placeholder), s.email_address"
        " FROM staff s JOIN department d ON d.department_id = s.department_id",
    ),
    DimensionSpec(
        "dim_location",
        "address",
        ("location_id", "address_line_1", "address_line_2", "district", "city", "postal_code", "country", "phone"),
        "SELECT address_id, address_line_1, address_line_2, district, city, postal_code, country, phone FROM address",
    ),
    DimensionSpec(
        "dim_currency",
        "currency",
        ("currency_id", "currency_code", "currency_name"),
        "SELECT currency_id, currency_code FROM currency",
        derive=_derive_currency,
    ),
    DimensionSpec(
        "dim_design",
        "design",
        ("design_id", "design_name", "file_location", "file_name"),
        "SELECT design_id, design_name, file_location, file_name FROM design",
    ),
    DimensionSpec(
        "dim_counterparty",
        "counterparty",
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
        "payment_type",
        ("payment_type_id", "payment_type_name"),
        "SELECT payment_type_id, payment_type_name::text FROM payment_type",
    ),
    DimensionSpec(
        "dim_transaction",
        "transaction",
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
        return dt.date.fromisoformat(value)
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


# -- the source against its contract ------------------------------------------------

# What each contract type is in the source DDL (SPEC §1), as format_type() writes it.
_SQL_TYPES: dict[ColumnType, tuple[str, ...]] = {
    ColumnType.INTEGER: ("integer",),
    ColumnType.NUMERIC: ("numeric(10,2)",),
    ColumnType.TEXT: ("text", "character varying"),  # currency_code is varchar(3)
    ColumnType.TEXT_DATE: ("text",),
    ColumnType.TIMESTAMP: ("timestamp(3) without time zone",),
    ColumnType.BOOLEAN: ("boolean",),
    ColumnType.ENUM: ("an enum",),
}

# Source rows the pipeline quarantines because the row they reference was quarantined
# (transform checks these joins: docs/transform.md); parents come first in TABLE_ORDER.
_PARENTS: dict[str, dict[str, str]] = {
    "staff": {"department_id": "department"},
    "counterparty": {"legal_address_id": "address"},
}


def _type_ok(column: Column, sql_type: str, kind: str) -> bool:
    if column.type is ColumnType.ENUM:
        return kind == "e"
    return any(sql_type == t or sql_type.startswith(f"{t}(") for t in _SQL_TYPES[column.type])


def source_type_mismatches(source: pg8000.native.Connection) -> tuple[list[str], bool]:
    """Contract columns whose live type differs from SPEC §1 (named), and whether any is missing."""
    rows = source.run(
        "SELECT c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod), t.typtype::text"
        " FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_type t ON t.oid = a.atttypid"
        " WHERE c.relnamespace = to_regnamespace(current_schema()) AND c.relname = ANY(:names)"
        " AND a.attnum > 0 AND NOT a.attisdropped",
        names=list(SOURCE_TABLES),
    )
    live = {(table, column): (sql_type, kind) for table, column, sql_type, kind in rows}
    problems: list[str] = []
    missing = False
    for table in SOURCE_TABLES.values():
        for column in table.columns:
            found = live.get((table.name, column.name))
            if found is None:
                problems.append(f"source column {table.name}.{column.name} is missing (SPEC §1)")
                missing = True
            elif not _type_ok(column, *found):
                want = " or ".join(_SQL_TYPES[column.type])
                problems.append(
                    f"source column {table.name}.{column.name} is {found[0]}; the contract (SPEC §1) says {want}"
                )
    return problems, missing


def _lake_form(values: Sequence[str | None], column: Column) -> tuple[pa.Array, dict[int, str]]:
    """PostgreSQL's text of ``column``'s values as the lake holds them (int64, bool or the text),
    and the positions that cannot even take that form (a retyped column)."""
    if column.type not in (ColumnType.INTEGER, ColumnType.BOOLEAN):
        return pa.array(values, pa.string()), {}
    out: list[Any] = []
    unreadable: dict[int, str] = {}
    for i, value in enumerate(values):
        try:
            out.append(None if value is None else _scalar(value, column.type))
        except ValueError:
            unreadable[i] = f"wrong type: {column.name} is {value!r}"
            out.append(None)
    return pa.array(out, pa.int64() if column.type is ColumnType.INTEGER else pa.bool_()), unreadable


def _scalar(text: str, kind: ColumnType) -> int | bool:
    if kind is ColumnType.BOOLEAN:
        if text not in ("true", "false"):
            raise ValueError(text)
        return text == "true"
    value = int(text)
    if not -(2**63) <= value < 2**63:
        raise ValueError(text)
    return value


def bad_source_rows(source: pg8000.native.Connection) -> dict[str, dict[int, str]]:
    """Per source table, the ids of the rows the pipeline must quarantine, with why.

    Judged by ``common.value_domain`` (transform's own definition) on the values as
    ingestion reads them (PostgreSQL's text output), then propagated along the joins
    transform checks (``_PARENTS``).
    """
    out: dict[str, dict[int, str]] = {}
    for name in TABLE_ORDER:
        table = SOURCE_TABLES[name]
        cols = ", ".join(f"{identifier(c)}::text" for c in table.column_names)
        rows = source.run(f"SELECT {cols} FROM {identifier(name)}")  # noqa: S608  # nosec B608
        columns = list(zip(*rows, strict=True)) if rows else [() for _ in table.columns]
        ids = [int(i) for i in columns[0]]
        bad: dict[int, str] = {}
        for column, values in zip(table.columns, columns, strict=True):
            lake, unreadable = _lake_form(values, column)
            for position, reason in {**bad_positions(lake, column), **unreadable}.items():
                bad.setdefault(ids[position], reason)
        for column, parent in _PARENTS.get(name, {}).items():
            values = columns[table.column_names.index(column)]
            for row_id, value in zip(ids, values, strict=True):
                if value is not None and value.lstrip("-").isdigit() and int(value) in out[parent]:
                    bad.setdefault(row_id, f"{column}={value} is a {parent} row skipped as bad input")
        out[name] = bad
    return out


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
    spec: DimensionSpec,
    source: pg8000.native.Connection,
    warehouse: pg8000.native.Connection,
    report: ReconcileReport,
    bad_rows: dict[int, str],
) -> set[Any]:
    """Compare one dimension; return the ids of its members skipped as bad input."""
    params = {"placeholder": NULL_LOCATION_PLACEHOLDER} if ":placeholder" in spec.source_sql else {}
    expected: dict[Any, dict[str, Any]] = {}
    bad: set[Any] = set()
    source_rows = source.run(spec.source_sql, **params)
    for raw in source_rows:
        try:
            if raw[0] in bad_rows:
                raise BadSourceValueError(bad_rows[raw[0]])
            row = spec.derive(list(raw)) if spec.derive else list(raw)
        except BadSourceValueError as exc:
            bad.add(raw[0])
            report.skipped_bad_input.append(f"{spec.table} {spec.key}={raw[0]}: {exc}")
            continue
        expected[row[0]] = dict(zip(spec.columns, row, strict=True))
    actual = {r[spec.key]: r for r in _rows(warehouse, _select(spec.table, spec.columns)) if r[spec.key] not in bad}
    report.differences += compare_rows(spec.table, spec.key, spec.columns, expected, actual)
    report.checked[spec.table] = len(expected)
    report.counts[spec.table] = TableCounts(len(source_rows), len(expected), len(bad))
    return bad


def _bad_reference(spec: FactSpec, fact_row: dict[str, Any], bad_members: dict[str, set[Any]]) -> str | None:
    """The reference of a fact row to a dimension member that was itself bad input, if any.

    The pipeline quarantines such a member, so the fact points at nothing and is
    quarantined too (docs/transform.md): bad input, not a difference.
    """
    for column, dimension in TABLES[spec.table].references.items():
        if fact_row[column] in bad_members.get(dimension, ()):
            return f"{column}={fact_row[column]} is a {dimension} member skipped as bad input"
    return None


def _select_source(spec: FactSpec) -> str:
    """The fact's source columns; text dates as text whatever the live column is (a retyped
    column is reported by ``source_type_mismatches``, and ingestion reads it as text too)."""
    source = SOURCE_TABLES[spec.source]
    columns = [
        f"{identifier(c)}::text AS {identifier(c)}" if source.column(c).type is ColumnType.TEXT_DATE else identifier(c)
        for c in spec.source_columns
    ]
    return f"SELECT {', '.join(columns)} FROM {identifier(spec.source)}"  # noqa: S608  # nosec B608


def _reconcile_fact(
    spec: FactSpec,
    source: pg8000.native.Connection,
    warehouse: pg8000.native.Connection,
    report: ReconcileReport,
    bad_members: dict[str, set[Any]],
    bad_rows: dict[int, str],
) -> None:
    expected: dict[Any, dict[str, Any]] = {}
    bad: set[Any] = set()
    source_rows = _rows(source, _select_source(spec))
    for row in source_rows:
        try:
            if row[spec.key] in bad_rows:
                raise BadSourceValueError(bad_rows[row[spec.key]])
            derived = derive_fact_row(spec, row)
            reason = _bad_reference(spec, derived, bad_members)
            if reason is not None:
                raise BadSourceValueError(reason)
            expected[row[spec.key]] = derived
        except BadSourceValueError as exc:
            bad.add(row[spec.key])
            report.skipped_bad_input.append(f"{spec.source} {spec.key}={row[spec.key]}: {exc}")
    cols = ", ".join(identifier(c) for c in spec.warehouse_columns)
    key = identifier(spec.key)
    # SPEC §2's current version (greatest last_updated, ties by the later load), deleted
    # source rows left out: exactly what the current-state view returns (005).
    latest_sql = f"SELECT {cols} FROM pipeline.{identifier(spec.table + '_current')}"  # noqa: S608  # nosec B608
    actual = {r[spec.key]: r for r in _rows(warehouse, latest_sql) if r[spec.key] not in bad}
    report.differences += compare_rows(spec.table, spec.key, spec.warehouse_columns, expected, actual)
    # A version is (source id, last_updated, content): a same-timestamp correction is not a duplicate.
    version = ", ".join(identifier(c) for c in TABLES[spec.table].version_columns)
    dup_sql = (
        f"SELECT {key}, last_updated_date, last_updated_time, count(*) FROM {identifier(spec.table)}"  # noqa: S608  # nosec B608
        f" GROUP BY {version} HAVING count(*) > 1"
    )
    for source_id, day, time, n in warehouse.run(dup_sql):
        label = f"{spec.key}={source_id} @ {day} {time}"
        report.differences.append(Difference(spec.table, label, "<version>", "stored once", f"stored {n} times"))
    report.checked[spec.table] = len(expected)
    report.counts[spec.table] = TableCounts(len(source_rows), len(expected), len(bad))


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


def reconcile(
    source: pg8000.native.Connection,
    warehouse: pg8000.native.Connection,
    *,
    max_skipped_share: float = DEFAULT_MAX_SKIPPED_SHARE,
) -> ReconcileReport:
    """Compare the whole warehouse with the current source.

    Parameters
    ----------
    source
        A connection to totesys (read-only access is enough).
    warehouse
        A connection to the warehouse.
    max_skipped_share
        The largest share of a table's source rows that may be skipped as bad input
        before the verdict fails (0.01: 1 %).

    Returns
    -------
    ReconcileReport
        ``ok`` is True when nothing differs, no source column is off the contract and no
        table skipped more than ``max_skipped_share``; ``differences`` name table, key,
        column, expected and actual values.
    """
    report = ReconcileReport(max_skipped_share=max_skipped_share)
    # One snapshot per side, so rows changing while we read cannot fake a difference.
    for con in (source, warehouse):
        con.run("START TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
    try:
        # Dates and timestamps as text the way ingestion reads them, whatever the role's default.
        source.run("SET LOCAL DateStyle = 'ISO, MDY'")
        report.type_mismatches, missing = source_type_mismatches(source)
        if missing:
            return report  # the contract's columns cannot even be read: nothing to compare
        bad_rows = bad_source_rows(source)
        bad_members: dict[str, set[Any]] = {}
        for spec in DIMENSIONS:
            bad_members[spec.table] = _reconcile_dimension(spec, source, warehouse, report, bad_rows[spec.source])
        for fact in FACTS:
            _reconcile_fact(fact, source, warehouse, report, bad_members, bad_rows[fact.source])
        _reconcile_dates(warehouse, report)
    finally:
        for con in (source, warehouse):
            con.run("ROLLBACK")
    return report
