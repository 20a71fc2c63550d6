"""dim_date: every attribute is a pure function of the date, derived here once for transform and load.

Generated rather than extracted: the source has no calendar table. Transform ships
the dates its facts reference (``transform.dim_date``); load inserts any date a fact
references that the warehouse lacks (``load.upsert.ensure_dates``); both take the row
from ``dim_date_row``. Names are English constants, not locale lookups,
so the output never depends on the Lambda's or the server's locale. Plain Python on
purpose: a run references at most a few thousand distinct dates, and load must not
turn Python values into Arrow ones (that imports pandas: docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

DimDateRow = tuple[date, int, int, int, int, str, str, int]


def dim_date_row(day: date) -> DimDateRow:
    """``(date_id, year, month, day, day_of_week, day_name, month_name, quarter)``, ISO weekday (Monday = 1)."""
    return (
        day,
        day.year,
        day.month,
        day.day,
        day.isoweekday(),
        DAY_NAMES[day.weekday()],
        MONTH_NAMES[day.month - 1],
        (day.month - 1) // 3 + 1,
    )


def dim_date_rows(days: Iterable[date | None]) -> list[DimDateRow]:
    """One row per distinct date in ``days`` (None ignored), ascending."""
    return [dim_date_row(day) for day in sorted({d for d in days if d is not None})]
