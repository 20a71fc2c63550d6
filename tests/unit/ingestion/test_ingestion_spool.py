"""The gzip JSON-lines spool: rows, bytes and checksum of what it would upload."""

from __future__ import annotations

import gzip
import hashlib

from ingestion.spool import JsonlSpool


def test_spool_counts_rows_and_checksums_the_object_bytes() -> None:
    lines = [f'{{"id":{i},"text":"row {i} \\u00e9"}}' for i in range(50_000)]  # > one block
    with JsonlSpool() as spool:
        for line in lines[:25_000]:
            spool.write(line.encode() + b"\n")  # as COPY hands them over
        for line in lines[25_000:]:
            spool.write_line(line)
        digest = spool.finish()
        spool._file.seek(0)
        body = spool._file.read()
    assert spool.rows == 50_000
    assert digest == hashlib.sha256(body).hexdigest()
    assert gzip.decompress(body).decode().splitlines() == lines


def test_same_rows_give_the_same_bytes() -> None:
    digests = []
    for _ in range(2):
        with JsonlSpool() as spool:
            spool.write_line('{"a":1}')
            digests.append(spool.finish())
    assert digests[0] == digests[1]


def test_an_empty_spool_has_no_rows() -> None:
    with JsonlSpool() as spool:
        spool.finish()
        assert spool.rows == 0
