"""The one definition of a value the warehouse can hold (common.value_domain)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pytest

from common.source_tables import Column, ColumnType
from common.value_domain import bad_positions, check_column

# Nullable, so the NULLs around each value under test are not themselves bad.
DATE = Column("d", ColumnType.TEXT_DATE, nullable=True)
STAMP = Column("t", ColumnType.TIMESTAMP, nullable=True)
MONEY = Column("m", ColumnType.NUMERIC, nullable=True)
INT = Column("i", ColumnType.INTEGER, nullable=True)
TEXT = Column("s", ColumnType.TEXT, nullable=True)
ENUM = Column("transaction_type", ColumnType.ENUM, nullable=True)


@pytest.mark.parametrize(
    ("column", "value", "ok"),
    [
        (DATE, "2023-01-05", True),
        (DATE, "0001-01-01", True),
        (DATE, "9999-12-31", True),
        (DATE, "0000-01-01", False),  # Arrow takes it; PostgreSQL has no year 0
        (DATE, " 2023-01-05 ", False),
        (DATE, "2023-01-05T10:00:00", False),
        (DATE, "20230105", False),
        (DATE, "2023-02-29", False),
        (DATE, "10000-01-01", False),
        (STAMP, "2024-01-02T03:04:05.123", True),
        (STAMP, "0001-01-01T00:00:00.000", True),
        (STAMP, "0000-12-31T23:59:59.999", False),
        (STAMP, "2024-01-02T03:04:05Z", False),
        (MONEY, "99999999.99", True),
        (MONEY, "-0.50", True),
        (MONEY, "100000000.00", False),
        (MONEY, "1.005", False),
        (MONEY, "NaN", False),
        (INT, 2**31 - 1, True),
        (INT, -(2**31), True),
        (INT, 2**31, False),
        (TEXT, "Zoë's bags 😀", True),
        (TEXT, "nul\x00byte", False),
        (ENUM, "SALE", True),
        (ENUM, "sale", False),
    ],
)
def test_each_value_is_judged_by_the_warehouse_domain(column: Column, value: object, ok: bool) -> None:
    lake_type = pa.int64() if column.type is ColumnType.INTEGER else pa.string()
    values = pa.array(["2023-01-05" if column is DATE else None, value, None], lake_type)
    found = bad_positions(values, column)
    assert (1 not in found) is ok, found
    assert 0 not in found
    assert 2 not in found


def test_out_of_range_dates_are_typed_null_and_named_with_their_reason() -> None:
    checked = check_column(pa.array(["2023-01-05", "0000-01-01"]), DATE)
    assert checked.values.to_pylist() == [dt.date(2023, 1, 5), None]
    [(mask, reason)] = checked.problems
    assert mask.to_pylist() == [False, True]
    assert reason == "unparseable date (outside the warehouse's years 1-9999): d"


def test_clean_columns_cost_no_mask() -> None:
    assert check_column(pa.array(["1.50", "2"]), MONEY).problems == []
    assert check_column(pa.array(["plain", None]), TEXT).problems == []
    assert check_column(pa.array(["plain"]).slice(0, 1), TEXT).values.to_pylist() == ["plain"]
    assert check_column(pa.array(["12.50"]), MONEY).values.to_pylist() == [Decimal("12.50")]


def test_null_in_a_not_null_column_comes_first() -> None:
    assert bad_positions(pa.array([None, "x"], pa.string()), Column("c", ColumnType.TEXT)) == {
        0: "missing required field or null: c"
    }
