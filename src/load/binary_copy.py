"""Arrow record batches as PostgreSQL's binary ``COPY`` format, vectorised with numpy.

Why: parsing CSV is most of what a ``COPY`` costs the server (text to date, time,
numeric; binary costs it well under half: docs/benchmarks.md, "Measurements behind
the code"), and the server's CPU is what bounds the load. Binary fields of the
fact tables are fixed-width, so a batch becomes one numpy structured array with one
big-endian field per column (no Python row objects).

Only tables whose every column has a fixed-width encoding here qualify
(``supports_binary``), and a batch must have no NULLs (``encode_batch`` refuses one):
the only caller is the direct fact load, where a NULL in a NOT NULL column has to
fall back to the staging path anyway, to be quarantined.

Format: https://www.postgresql.org/docs/15/sql-copy.html ("Binary Format"); per-type
wire formats are the types' ``*_send``/``*_recv`` functions.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from common.warehouse_tables import WarehouseTable
from load.errors import NullInBatchError

# Signature, flags (no OIDs), header extension length.
HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
TRAILER = (-1).to_bytes(2, "big", signed=True)

_PG_EPOCH_DAYS = 10_957  # 2000-01-01 - 1970-01-01: PostgreSQL dates count from 2000
_MONEY = pa.decimal128(10, 2)
_NUMERIC_NEG = 0x4000

# numeric(10,2) as three base-10000 digits with weight 1: [int // 10^4, int % 10^4, cents * 100].
# numeric_recv strips leading and trailing zero digits, so a fixed layout is valid for
# every value up to 99,999,999.99 (all decimal128(10,2) can hold).
_NUMERIC = np.dtype([("ndigits", ">i2"), ("weight", ">i2"), ("sign", ">u2"), ("dscale", ">u2"), ("digits", ">i2", 3)])

_VALUE_DTYPES: dict[pa.DataType, np.dtype] = {
    pa.int32(): np.dtype(">i4"),
    pa.date32(): np.dtype(">i4"),
    pa.time64("us"): np.dtype(">i8"),
    pa.bool_(): np.dtype("u1"),
    _MONEY: _NUMERIC,
}


def supports_binary(table: WarehouseTable) -> bool:
    """Whether every column of ``table`` has a fixed-width binary encoding here."""
    return all(c.type in _VALUE_DTYPES for c in table.columns)


def _row_dtype(batch: pa.RecordBatch) -> np.dtype:
    fields: list[tuple[str, object]] = [("nfields", ">i2")]
    for i, f in enumerate(batch.schema):
        fields += [(f"len{i}", ">i4"), (f"val{i}", _VALUE_DTYPES[f.type])]
    return np.dtype(fields)  # packed: numpy adds no padding without align=True


def _decimal_units(column: pa.Array) -> np.ndarray:
    """The unscaled integers of a decimal128 column (exact: its 16-byte little-endian words)."""
    words = np.frombuffer(column.buffers()[1], dtype="<i8", count=2 * (column.offset + len(column)))
    # Precision 10 fits in the low word; the high word is only its sign extension.
    return words[2 * column.offset :: 2].astype(np.int64)


def _fill_numeric(out: np.ndarray, column: pa.Array) -> None:
    units = _decimal_units(column)
    magnitude = np.abs(units)
    whole, cents = np.divmod(magnitude, 100)
    out["ndigits"] = 3
    out["weight"] = 1
    out["sign"] = np.where(units < 0, _NUMERIC_NEG, 0)
    out["dscale"] = 2
    out["digits"][:, 0] = whole // 10_000
    out["digits"][:, 1] = whole % 10_000
    out["digits"][:, 2] = cents * 100


def _fixed_values(column: pa.Array, dtype: str) -> np.ndarray:
    """The values of a NULL-free fixed-width column, read from its buffer without a copy.

    Not ``Array.to_numpy()``: it makes pyarrow import pandas, once per process (a
    Lambda cold start, and every benchmark child; the cost is in docs/benchmarks.md).
    """
    width = np.dtype(dtype).itemsize
    return np.frombuffer(column.buffers()[1], dtype=dtype, count=len(column), offset=column.offset * width)


def _bool_values(column: pa.Array) -> np.ndarray:
    bits = np.unpackbits(np.frombuffer(column.buffers()[1], dtype=np.uint8), bitorder="little")
    return bits[column.offset : column.offset + len(column)]


def encode_batch(batch: pa.RecordBatch) -> bytes:
    """One batch as binary COPY tuples (no header or trailer). Raise NullInBatchError on a NULL."""
    if any(col.null_count for col in batch.columns):
        raise NullInBatchError("binary COPY encoding needs a batch without NULLs")
    rows = np.empty(batch.num_rows, dtype=_row_dtype(batch))
    rows["nfields"] = batch.num_columns
    for i, (field, column) in enumerate(zip(batch.schema, batch.columns, strict=True)):
        value = rows[f"val{i}"]
        rows[f"len{i}"] = value.dtype.itemsize
        if field.type == _MONEY:
            _fill_numeric(value, column)
        elif field.type == pa.date32():
            value[...] = _fixed_values(column, "<i4") - _PG_EPOCH_DAYS
        elif field.type == pa.time64("us"):
            value[...] = _fixed_values(column, "<i8")
        elif field.type == pa.bool_():
            value[...] = _bool_values(column)
        else:  # int32
            value[...] = _fixed_values(column, "<i4")
    return rows.tobytes()
