"""Reading and verifying one ingestion run: the objects its manifest names, streamed and checked.

Each object is streamed from S3, inflated, parsed and validated block by block
(``transform.reader``) while its bytes are hashed; only once it has been read to the
end is it verified against the manifest's sha256. An object whose bytes are not what
ingestion committed (or cannot even be inflated) is quarantined whole and is never
"read": ``ObjectRejectedError`` tells the caller to drop whatever it made of it.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from gzip import BadGzipFile
from typing import IO

import pyarrow as pa

from common.s3_store import LakeStore
from common.source_tables import SOURCE_TABLES
from lake.manifest import IngestManifest
from lake.quarantine import BadRow
from transform.errors import ObjectRejectedError
from transform.ingest_objects import HashingReader, open_object
from transform.reader import DEFAULT_BLOCK_BYTES, Chunk, ObjectRows, concat_rows, iter_chunks
from transform.rejects import QuarantineLog
from transform.snapshot import latest_per_key

try:  # ISA-L inflates the same gzip format faster than zlib (docs/benchmarks.md)
    from isal.igzip import GzipFile
    from isal.isal_zlib import error as inflate_error
except ImportError:  # pragma: no cover - the stdlib fallback reads the same bytes, slower
    from gzip import GzipFile
    from zlib import error as inflate_error

# What inflating bytes that are not (whole) gzip raises: not a gzip header, a truncated
# stream, a corrupt deflate block. Deliberately not OSError at large, which a broken
# network read would also raise.
_UNINFLATABLE = (BadGzipFile, EOFError, inflate_error, zlib.error)


def _open_lines(fileobj: IO[bytes] | HashingReader, key: str) -> IO[bytes]:
    return GzipFile(fileobj=fileobj, mode="rb") if key.endswith(".gz") else fileobj  # type: ignore[return-value]


class StartedEarly(Iterator[Chunk]):
    """Chunks whose first step (S3 GET, inflate, the first blocks' parse) starts now, on a thread.

    The dimension sources are small S3 round trips that leave the CPUs idle; starting
    the first fact object meanwhile overlaps them with its transfer and parse. Only
    parsing happens early: the facts' foreign-key checks still wait for the dimensions.
    """

    def __init__(self, chunks: Iterator[Chunk]) -> None:
        self._chunks = chunks
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="early")
        self._first: Future[Chunk | None] | None = pool.submit(next, chunks, None)
        pool.shutdown(wait=False)  # returns now; the thread ends with its one task

    def __next__(self) -> Chunk:
        if self._first is None:
            return next(self._chunks)
        first, self._first = self._first, None
        chunk = first.result()
        if chunk is None:
            raise StopIteration
        return chunk

    def close(self) -> None:
        """Stop early (the run failed before the facts): no more blocks are parsed."""
        if self._first is not None:
            self._first.exception()  # wait for the first step; its error, if any, is moot now
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()


class RunReader:
    """The objects of one ingestion run, as verified chunks; rejected objects and rows go to ``quarantine``."""

    def __init__(
        self,
        ingest: LakeStore,
        manifest: IngestManifest,
        quarantine: QuarantineLog,
        block_bytes: int = DEFAULT_BLOCK_BYTES,
    ) -> None:
        self.ingest, self.manifest, self.seq = ingest, manifest, manifest.run_seq
        self.quarantine, self.block_bytes = quarantine, block_bytes
        self.rows_in: dict[str, int] = {}  # rows read per source table (each written by one thread)
        self._early: dict[str, StartedEarly] = {}

    def has_object(self, table: str) -> bool:
        entry = self.manifest.tables.get(table)
        return entry is not None and entry.key is not None

    def start_first(self, tables: Iterable[str]) -> None:
        """Start reading the first of ``tables`` that has an object (see ``StartedEarly``)."""
        for table in tables:
            if self.has_object(table):
                self._early[table] = StartedEarly(self._stream(table))
                return

    def close(self) -> None:
        """Release whatever was started early and never consumed (the run failed)."""
        for early in self._early.values():
            early.close()
        self._early.clear()

    def chunks(self, table: str) -> Iterator[Chunk]:
        """The run's object of ``table``, block by block; provisional until exhausted (see ``_stream``)."""
        return self._early.pop(table, None) or self._stream(table)

    def _stream(self, table: str) -> Iterator[Chunk]:
        """Stream, inflate, parse and validate the run's object of ``table``, block by block.

        The object is verified against the manifest's sha256 only once it has been
        read to the end, so the caller must keep what it makes of the chunks
        provisional until this generator is exhausted.

        Raises
        ------
        ObjectRejectedError
            The object's sha256 differs from the manifest's, or it matches and the
            bytes cannot be inflated (quarantined whole either way).
        """
        entry = self.manifest.tables[table]
        key = entry.key or ""
        with open_object(self.ingest, key) as raw:
            try:
                lines = _open_lines(raw, key)
                source = SOURCE_TABLES[table]
                yield from iter_chunks(lines, source, run_seq=self.seq, source_key=key, block_bytes=self.block_bytes)
                raw.drain()  # a gzip trailer or stray bytes after it are part of the object too
            except Exception as exc:
                # Corrupt bytes may fail the inflate or the parse before the end is reached:
                # that is the mismatch below when the object is not what was committed.
                raw.drain()
                committed = entry.sha256 is not None and raw.hexdigest() == entry.sha256
                if entry.sha256 is None or (committed and not isinstance(exc, _UNINFLATABLE)):
                    raise  # ours or transient: fail the invocation, a retry reads it again
                if committed:
                    # Exactly the bytes ingestion committed, and they cannot be inflated: no
                    # retry can ever read them (the lake is immutable), so failing would block
                    # every later run. Quarantine the object (it stays in the ingest bucket;
                    # the alarm fires) and go on, as for a mismatch.
                    self._reject(table, f"object cannot be inflated ({type(exc).__name__}: {exc}); object not read")
                    raise ObjectRejectedError(key) from exc
            digest = raw.hexdigest()
        if entry.sha256 is not None and digest != entry.sha256:
            # The object is not what ingestion committed. Reading it would put unverified
            # rows in the warehouse; failing would block every later run forever (the lake
            # is immutable, nothing can repair the object). So: quarantine the object.
            self._reject(table, f"object sha256 {digest} differs from the manifest's {entry.sha256}; object not read")
            raise ObjectRejectedError(key)

    def _reject(self, table: str, reason: str) -> None:
        self.quarantine.add([BadRow(table, self.seq, self.manifest.tables[table].key, None, None, reason, None)])

    def read_latest(self, table: str, keep_raw: bool) -> tuple[pa.Table, ObjectRows | None]:
        """The latest version of each row of the run's ``table`` object, and its raw lines if ``keep_raw``.

        Raw lines (the decompressed blocks) are kept only for tables whose rows can
        still be rejected after reading; for the others they, and the rows before
        deduplication, are released here: a big ``transaction`` object would otherwise
        hold its text and two copies of its rows through the run.
        """
        empty = concat_rows([], SOURCE_TABLES[table])
        if not self.has_object(table):
            return empty, None
        try:
            # Without raw lines, a chunk is reduced to its rows as it arrives, so the
            # object's text is never held whole.
            chunks = [c if keep_raw else Chunk(c.rows, c.bad, c.first_line, b"") for c in self.chunks(table)]
        except ObjectRejectedError:
            return empty, None
        rows = ObjectRows.from_chunks(chunks, SOURCE_TABLES[table])
        self.rows_in[table] = rows.rows.num_rows + len(rows.bad)
        self.quarantine.add(rows.bad)
        latest = latest_per_key(rows.rows, SOURCE_TABLES[table].primary_key)
        return latest, rows if keep_raw else None
