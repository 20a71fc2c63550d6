"""dim_date's Parquet for one run: the dates the run's facts reference (rows: ``common.dim_date``).

Only the dates some fact row of the run references are emitted, which is exactly what
the facts' foreign keys need; load inserts the missing ones, so a date seen in many
runs is harmless.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from common.dim_date import dim_date_rows
from transform.schemas import WAREHOUSE_SCHEMAS


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
    schema = WAREHOUSE_SCHEMAS["dim_date"]
    rows = dim_date_rows(pc.unique(pc.drop_null(dates.cast(pa.date32()))).to_pylist())
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(schema)
    return pa.Table.from_arrays([pa.array(c, f.type) for c, f in zip(columns, schema, strict=True)], schema=schema)
