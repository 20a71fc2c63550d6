"""Pure checks of the COPY encoders: which tables go binary, NULL refusal, the prefetching stream."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pyarrow as pa
import pytest

from common.warehouse_tables import DIMENSIONS, TABLES
from load.binary_copy import HEADER, TRAILER, NullInBatchError, encode_batch, supports_binary
from load.staging import prefetched


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
