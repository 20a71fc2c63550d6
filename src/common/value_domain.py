"""What a source value must be for the warehouse to hold it: the one definition of "valid".

Transform quarantines what this module rejects (``transform.reader``); reconcile
counts the same rows as skipped bad input (``ops.reconcile``), so the two can never
disagree about which rows the pipeline was right to keep out. The definition is the
warehouse's type domain (SPEC §2 DDL, PostgreSQL's input rules), not Arrow's:

* ``integer``: fits PostgreSQL's int4 (-2147483648 .. 2147483647);
* ``numeric(10,2)``: at most 2 decimals and 8 digits before the point (Arrow's strict
  cast to ``decimal128(10,2)``: no rounding, no overflow);
* text dates: exactly ``YYYY-MM-DD``, a real calendar day, year 1 to 9999. Arrow's
  cast takes ``0000-01-01``, which PostgreSQL refuses (there is no year 0 in ISO
  text input), so the year is checked on top;
* timestamps: ISO 8601 without a zone (what ingestion writes), year 1 to 9999;
* text: storable in a UTF8 database, i.e. no NUL character (Arrow has already
  refused invalid UTF-8 and lone surrogates when it parsed the JSON);
* enums: one of the type's labels.

Values come in as the lake holds them (``common.source_tables``' JSON forms: int64
for integers, the string for numeric, dates, timestamps, text and enums, bool for
booleans) and go out typed as the warehouse Parquet types them. Everything is
vectorised: the clean case is one strict Arrow cast plus a min/max per column; only
a column with a bad value pays for finding it (bisection, ``O(bad · log n)`` casts).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from common.source_tables import ENUM_VALUES, Column, ColumnType

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
NUMERIC_PRECISION, NUMERIC_SCALE = 10, 2
MIN_YEAR, MAX_YEAR = 1, 9999

# The warehouse type each contract type becomes once valid.
TYPED: dict[ColumnType, pa.DataType] = {
    ColumnType.INTEGER: pa.int32(),
    ColumnType.NUMERIC: pa.decimal128(NUMERIC_PRECISION, NUMERIC_SCALE),
    ColumnType.TEXT: pa.string(),
    ColumnType.TEXT_DATE: pa.date32(),
    ColumnType.TIMESTAMP: pa.timestamp("us"),
    ColumnType.BOOLEAN: pa.bool_(),
    ColumnType.ENUM: pa.string(),
}

# 0001-01-01 and 9999-12-31 as days and microseconds since 1970-01-01 (also the range
# of Python's date: a date32 outside it cannot become one).
MIN_DAY, MAX_DAY = -719_162, 2_932_896
_US_PER_DAY = 86_400_000_000
_MIN_US, _MAX_US = MIN_DAY * _US_PER_DAY, (MAX_DAY + 1) * _US_PER_DAY - 1

# Why a value is refused, per contract type (quarantine reasons: docs/transform.md).
REASON: dict[ColumnType, str] = {
    ColumnType.INTEGER: "integer out of range",
    ColumnType.NUMERIC: "not a numeric(10,2)",
    ColumnType.TEXT_DATE: "unparseable date",
    ColumnType.TIMESTAMP: "unparseable timestamp",
    ColumnType.TEXT: "text the warehouse cannot store (NUL character)",
    ColumnType.ENUM: "unknown enum label",
}
OUT_OF_RANGE = f"outside the warehouse's years {MIN_YEAR}-{MAX_YEAR}"
NULL_REASON = "missing required field or null"


@dataclass(frozen=True)
class Checked:
    """One column after the check: typed values (bad ones null) and which were bad.

    ``problems`` is a list of (mask, reason) pairs, in the order a row's reason is
    chosen; empty when every value is valid (the common case costs no mask at all).
    """

    values: pa.ChunkedArray
    problems: list[tuple[pa.Array, str]]


def null_problem(values: pa.ChunkedArray | pa.Array, column: Column) -> tuple[pa.Array, str] | None:
    """The mask of NULLs in a NOT NULL column, or None (null_count is known without a pass)."""
    if column.nullable or not values.null_count:
        return None
    return _flat(pc.is_null(values)), f"{NULL_REASON}: {column.name}"


def check_column(values: pa.ChunkedArray | pa.Array, column: Column) -> Checked:
    """Type ``values`` (the lake form of ``column``) for the warehouse and find the values it cannot hold.

    NULLs are passed through (``null_problem`` judges them).
    """
    kind = column.type
    want = TYPED[kind]
    reason = f"{REASON.get(kind, 'invalid')}: {column.name}"
    if kind in (ColumnType.INTEGER, ColumnType.NUMERIC, ColumnType.TEXT_DATE, ColumnType.TIMESTAMP):
        typed, bad = _strict_cast(values, want)
        problems = [(bad, reason)] if bad is not None else []
        if kind in (ColumnType.TEXT_DATE, ColumnType.TIMESTAMP):
            low, high = (MIN_DAY, MAX_DAY) if kind is ColumnType.TEXT_DATE else (_MIN_US, _MAX_US)
            out = _outside(typed, low, high)
            if out is not None:
                problems.append((out, f"{REASON[kind]} ({OUT_OF_RANGE}): {column.name}"))
                typed = pa.chunked_array([pc.if_else(out, pa.nulls(len(out), want), _flat(typed))])
        return Checked(typed, problems)
    values = values if isinstance(values, pa.ChunkedArray) else pa.chunked_array([values])
    if kind is ColumnType.ENUM:
        bad = pc.invert(pc.is_in(values, value_set=pa.array(ENUM_VALUES[column.name])))
        bad = _flat(pc.and_(bad, pc.is_valid(values)))
        return Checked(values, [(bad, reason)] if pc.any(bad).as_py() else [])
    if kind is ColumnType.TEXT and _may_hold_nul(values):
        bad = _flat(pc.fill_null(pc.match_substring(values, "\x00"), False))
        if pc.any(bad).as_py():
            return Checked(values, [(bad, reason)])
    return Checked(values, [])


def _flat(mask: pa.ChunkedArray | pa.Array) -> pa.Array:
    return mask.combine_chunks() if isinstance(mask, pa.ChunkedArray) else mask


def _may_hold_nul(values: pa.ChunkedArray) -> bool:
    """Whether any chunk's character data holds a zero byte (numpy, ~1 GB/s; a superset:
    a sliced chunk's buffer may extend beyond the slice, which only costs an exact check)."""
    for chunk in values.chunks:
        data = chunk.buffers()[2]
        if data is not None and data.size and not np.frombuffer(data, dtype=np.uint8).all():
            return True
    return False


def _outside(typed: pa.ChunkedArray, low: int, high: int) -> pa.Array | None:
    """Mask of values below ``low`` or above ``high`` (on the integers behind date32/timestamp), or None."""
    ints = typed.cast(pa.int32() if pa.types.is_date32(typed.type) else pa.int64())
    lowest, highest = pc.min(ints).as_py(), pc.max(ints).as_py()
    if lowest is None or (lowest >= low and highest <= high):
        return None
    return _flat(pc.fill_null(pc.or_(pc.less(ints, low), pc.greater(ints, high)), False))


def _strict_cast(values: pa.ChunkedArray | pa.Array, want: pa.DataType) -> tuple[pa.ChunkedArray, pa.Array | None]:
    """Cast with Arrow's strict cast; if it fails, locate the bad values by bisection.

    Returns the cast column (bad values as null) and a mask of bad values (None if none).
    """
    arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    try:
        return pa.chunked_array([pc.cast(arr, want)]), None
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    bad: set[int] = set()
    _mark_bad(arr, want, bad)
    mask = pa.array([i in bad for i in range(len(arr))], pa.bool_())
    cleaned = pc.if_else(mask, pa.nulls(len(arr), arr.type), arr)
    return pa.chunked_array([pc.cast(cleaned, want)]), mask


def _mark_bad(arr: pa.Array, want: pa.DataType, bad: set[int]) -> None:
    stack: list[tuple[int, int]] = [(0, len(arr))]
    while stack:
        start, length = stack.pop()
        try:
            pc.cast(arr.slice(start, length), want)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            if length == 1:
                bad.add(start)
            else:
                half = length // 2
                stack.append((start, half))
                stack.append((start + half, length - half))


def bad_positions(values: pa.ChunkedArray | pa.Array, column: Column) -> dict[int, str]:
    """Row positions of ``values`` the warehouse cannot hold, with the first reason of each.

    The same checks, in the same order, as transform applies (``null_problem`` first),
    for a caller that wants answers per row rather than masks (reconcile).
    """
    problems = [p for p in (null_problem(values, column),) if p is not None]
    problems += check_column(values, column).problems
    found: dict[int, str] = {}
    for mask, reason in problems:
        for i in np.flatnonzero(mask.to_numpy(zero_copy_only=False)):
            found.setdefault(int(i), reason)
    return found
