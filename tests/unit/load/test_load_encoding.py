"""Pure checks of the COPY encoders: which tables go binary, NULL refusal, the prefetching stream."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from decimal import Decimal

import pyarrow as pa
import pytest

from common.prefetch import prefetched
from common.warehouse_tables import DIMENSIONS, TABLES
from load.binary_copy import HEADER, TRAILER, encode_batch, supports_binary
from load.errors import NullInBatchError


def test_fixed_width_facts_are_binary_and_tables_with_text_are_not() -> None:
    assert supports_binary(TABLES["fact_sales_order"])
    assert supports_binary(TABLES["fact_payment"])
    assert not supports_binary(TABLES["fact_purchase_order"])  # item_code is text
    assert not any(supports_binary(TABLES[d]) for d in DIMENSIONS)


def test_binary_framing() -> None:
    assert HEADER[:11] == b"PGCOPY\n\xff\r\n\x00"
    assert len(HEADER) == 19
    assert TRAILER == b"\xff\xff"


def test_one_row_encodes_field_count_lengths_and_big_endian_values() -> None:
    batch = pa.record_batch({"a": pa.array([1], pa.int32()), "d": pa.array([pa.scalar(10_958, pa.date32())])})
    assert encode_batch(batch) == (
        b"\x00\x02" + b"\x00\x00\x00\x04" + b"\x00\x00\x00\x01" + b"\x00\x00\x00\x04" + b"\x00\x00\x00\x01"
    )  # 2000-01-02 is day 1 of PostgreSQL's epoch


def test_a_batch_with_a_null_is_refused() -> None:
    batch = pa.record_batch({"a": pa.array([1, None], pa.int32())})
    with pytest.raises(NullInBatchError):
        encode_batch(batch)


def test_prefetched_yields_everything_in_order_and_reraises_where_it_failed() -> None:
    def chunks() -> Iterator[bytes]:
        yield b"a"
        yield b"b"
        raise ValueError("broken")

    stream = prefetched(chunks())
    assert [next(stream), next(stream)] == [b"a", b"b"]
    with pytest.raises(ValueError, match="broken"):
        next(stream)


def test_prefetched_stops_its_thread_when_the_consumer_leaves_early() -> None:
    def endless() -> Iterator[bytes]:
        while True:
            yield b"x"

    before = threading.active_count()
    stream = prefetched(endless(), depth=1)
    assert next(stream) == b"x"
    stream.close()  # runs the generator's finally: the producer is told to stop and joined
    assert threading.active_count() == before


def _reference_row(values: list[object], kinds: list[str]) -> bytes:
    """One tuple encoded field by field with struct: the slow, obvious spelling of the format."""
    import struct

    out = struct.pack(">h", len(values))
    for value, kind in zip(values, kinds, strict=True):
        if kind == "int":
            out += struct.pack(">ii", 4, value)
        elif kind == "bool":
            out += struct.pack(">i?", 1, value)
        elif kind == "date":
            out += struct.pack(">ii", 4, (value - dt.date(2000, 1, 1)).days)  # type: ignore[operator]
        elif kind == "time":
            t = value  # type: ignore[assignment]
            micros = ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond  # type: ignore[attr-defined]
            out += struct.pack(">iq", 8, micros)
        else:  # numeric(10,2)
            cents = int(value * 100)  # type: ignore[operator]
            whole, frac = divmod(abs(cents), 100)
            sign = 0x4000 if cents < 0 else 0
            out += struct.pack(">ihhHHhhh", 14, 3, 1, sign, 2, whole // 10_000, whole % 10_000, frac * 100)
    return out


def test_sliced_columns_of_every_type_encode_like_the_reference() -> None:
    ints = [7, -1, 2**31 - 1, -(2**31), 0]
    flags = [True, False, True, True, False]
    dates = [dt.date(1970, 1, 1), dt.date(1999, 12, 31), dt.date(2024, 2, 29), dt.date(2000, 1, 1), dt.date(2100, 1, 1)]
    times = [dt.time(0), dt.time(23, 59, 59, 999999), dt.time(12, 30), dt.time(1, 2, 3, 4), dt.time(9)]
    money = [Decimal(x) for x in ("0.00", "-0.01", "99999999.99", "-12345.60", "1.10")]
    batch = pa.record_batch(
        {
            "i": pa.array(ints, pa.int32()),
            "b": pa.array(flags, pa.bool_()),
            "d": pa.array(dates, pa.date32()),
            "t": pa.array(times, pa.time64("us")),
            "m": pa.array(money, pa.decimal128(10, 2)),
        }
    ).slice(1, 3)  # offsets into the buffers, including mid-byte for the bit-packed booleans
    kinds = ["int", "bool", "date", "time", "numeric"]
    expected = b"".join(_reference_row([ints[r], flags[r], dates[r], times[r], money[r]], kinds) for r in range(1, 4))
    assert encode_batch(batch) == expected
