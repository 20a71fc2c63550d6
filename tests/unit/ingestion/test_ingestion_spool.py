"""The gzip JSON-lines spool: CSV rows in (as PostgreSQL's COPY writes them), JSON lines,
rows, bytes and checksum of what it would upload."""

from __future__ import annotations

import gzip
import hashlib
import json

import pyarrow as pa
import pytest

from common.source_tables import SOURCE_TABLES
from ingestion.errors import SourceQueryError
from ingestion.render import RenderedBlock
from ingestion.spool import JsonlSpool

CURRENCY = SOURCE_TABLES["currency"]
DEPARTMENT = SOURCE_TABLES["department"]


def _currency_csv(i: int) -> bytes:
    return f"{i},C{i:02d},2024-01-02 03:04:05.12,2024-01-02 03:04:{i % 60:02d}\n".encode()


def _currency_json(i: int) -> str:
    return (
        f'{{"currency_id":{i},"currency_code":"C{i:02d}","created_at":"2024-01-02T03:04:05.120",'
        f'"last_updated":"2024-01-02T03:04:{i % 60:02d}.000"}}'
    )


def _body(spool: JsonlSpool) -> bytes:
    spool._file.seek(0)
    return spool._file.read()


def test_spool_counts_rows_and_checksums_the_object_bytes() -> None:
    with JsonlSpool(CURRENCY) as spool:
        for i in range(100_000):  # several blocks
            spool.write(_currency_csv(i))  # as COPY hands them over: one row per call
        digest = spool.finish()
        body = _body(spool)
    assert spool.rows == 100_000
    assert digest == hashlib.sha256(body).hexdigest()
    assert gzip.decompress(body).decode().splitlines() == [_currency_json(i) for i in range(100_000)]


def test_csv_quoting_null_and_empty_string_become_the_right_json() -> None:
    rows = [
        b'1,"Sales, ""North""",,"",2024-01-02 03:04:05,2024-01-02 03:04:05.005\n',
        b'2,"line\nbreak \\ back\tslash\x01",Leeds,x,2024-01-02 03:04:05,2024-01-02 03:04:05.5\n',
    ]
    with JsonlSpool(DEPARTMENT) as spool:
        for row in rows:
            spool.write(row)
        spool.finish()
        lines = gzip.decompress(_body(spool)).decode().splitlines()
    assert lines == [
        '{"department_id":1,"department_name":"Sales, \\"North\\"","location":null,"manager":"",'
        '"created_at":"2024-01-02T03:04:05.000","last_updated":"2024-01-02T03:04:05.005"}',
        '{"department_id":2,"department_name":"line\\nbreak \\\\ back\\tslash\\u0001","location":"Leeds",'
        '"manager":"x","created_at":"2024-01-02T03:04:05.000","last_updated":"2024-01-02T03:04:05.500"}',
    ]
    assert json.loads(lines[1])["department_name"] == "line\nbreak \\ back\tslash\x01"


def test_a_row_filter_drops_rows_in_blocks_of_at_most_max_rows() -> None:
    seen_sizes: list[int] = []

    def drop_odd_ids(block: RenderedBlock) -> pa.Array:
        seen_sizes.append(len(block.ids))
        return pa.array([int(i) % 2 == 0 for i in block.ids.to_pylist()])

    with JsonlSpool(CURRENCY) as spool:
        spool.begin()
        for i in range(10):
            spool.write(_currency_csv(i))
        spool.begin(drop_odd_ids, max_rows=3)
        for i in range(10, 20):
            spool.write(_currency_csv(i))
        spool.drain()
        assert seen_sizes == [3, 3, 3, 1], "drain returns once the filter has seen every row"
        spool.finish()
        lines = gzip.decompress(_body(spool)).decode().splitlines()
    assert spool.rows == 15
    assert lines == [_currency_json(i) for i in [*range(10), *range(10, 20, 2)]]


def test_a_timestamp_arrow_cannot_read_stays_text_for_transform_to_reject() -> None:
    rows = [
        _currency_csv(1),
        b"2,GBP,infinity,2024-01-02 03:04:05.5\n",
        b"3,EUR,0044-03-15 00:00:00 BC,2024-01-02 03:04:05\n",
    ]
    with JsonlSpool(CURRENCY) as spool:
        for row in rows:
            spool.write(row)
        spool.finish()
        lines = gzip.decompress(_body(spool)).decode().splitlines()
    assert lines == [
        _currency_json(1),
        '{"currency_id":2,"currency_code":"GBP","created_at":"infinity","last_updated":"2024-01-02T03:04:05.500"}',
        '{"currency_id":3,"currency_code":"EUR","created_at":"0044-03-15 00:00:00 BC",'
        '"last_updated":"2024-01-02T03:04:05.000"}',
    ]


def test_bytes_that_are_not_utf8_fail_the_table() -> None:
    with JsonlSpool(CURRENCY) as spool:
        spool.write(b"1,\xff\xfe,2024-01-02 03:04:05,2024-01-02 03:04:05\n")
        with pytest.raises(SourceQueryError, match="currency"):
            spool.finish()


def test_same_rows_give_the_same_bytes() -> None:
    digests = []
    for _ in range(2):
        with JsonlSpool(CURRENCY) as spool:
            spool.write(_currency_csv(1))
            digests.append(spool.finish())
    assert digests[0] == digests[1]


def test_an_empty_spool_has_no_rows() -> None:
    with JsonlSpool(CURRENCY) as spool:
        spool.drain()
        spool.finish()
        assert spool.rows == 0
