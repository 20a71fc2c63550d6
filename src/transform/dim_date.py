"""dim_date, generated from the dates the run's facts reference.

Generated rather than extracted: the source has no calendar table, and every
attribute (year, ISO weekday, quarter, names) is a pure function of the date. Only
the dates some fact row of the run references are emitted, which is exactly what the
facts' foreign keys need; load upserts them, so a date seen in many runs is harmless.
Names are English constants, not locale lookups, so the output never depends on the
Lambda's locale.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from transform.schemas import WAREHOUSE_SCHEMAS

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


def build_dim_date(dates: pa.Array | pa.ChunkedArray) -> pa.Table:
    """One dim_date row per distinct date in ``dates``, ascending.

    Parameters
    ----------
    dates : pyarrow date32 array
        Dates referenced by fact rows (duplicates and nulls allowed).

    Returns
    -------
    pyarrow.Table
        Rows with the ``dim_date`` schema: ISO ``day_of_week`` (Monday = 1 .. Sunday = 7).
    """
    if isinstance(dates, pa.ChunkedArray):
        dates = dates.combine_chunks()
    d = pc.unique(pc.drop_null(dates.cast(pa.date32())))
    d = pc.take(d, pc.sort_indices(d))
    # day_of_week counts Monday = 1 with these options: ISO 8601.
    dow = pc.day_of_week(d, count_from_zero=False, week_start=1)
    month = pc.month(d)
    i32 = pa.int32()
    columns = [
        d,
        pc.year(d).cast(i32),
        month.cast(i32),
        pc.day(d).cast(i32),
        dow.cast(i32),
        pc.take(pa.array(DAY_NAMES), pc.subtract(dow, 1)),
        pc.take(pa.array(MONTH_NAMES), pc.subtract(month, 1)),
        pc.quarter(d).cast(i32),
    ]
    return pa.Table.from_arrays(columns, schema=WAREHOUSE_SCHEMAS["dim_date"])
