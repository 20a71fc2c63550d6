"""A gzip JSON-lines temp file that COPY streams CSV rows into, with a row count and a checksum.

pg8000 calls ``write`` once per COPY row, so that call only appends to a buffer; whole
blocks of CSV rows go through a bounded queue to one worker thread, which renders them
as JSON lines (``ingestion.render``: Arrow, which releases the GIL), drops rows a
segment's filter rejects, gzips and hashes. So the main thread does little more than
drain the COPY stream while the second core renders and compresses. Memory stays at a
few blocks whatever the table size; the object itself lives on disk (Lambda's /tmp)
until it is uploaded.

Each ``write`` is exactly one CSV row (PostgreSQL sends one CopyData message per row),
so a block always ends on a row boundary even when a quoted value holds a newline.
"""

from __future__ import annotations

import hashlib
import queue
import tempfile
import threading
from collections.abc import Callable
from typing import IO, TYPE_CHECKING

import pyarrow as pa

from ingestion.errors import SourceQueryError
from ingestion.render import CsvRenderer, RenderedBlock, value_bytes

try:  # ISA-L deflates the same gzip format faster than zlib, and a bit smaller (docs/benchmarks.md)
    from isal.igzip import GzipFile
except ImportError:  # pragma: no cover - the stdlib writes the same format, slower
    from gzip import GzipFile

if TYPE_CHECKING:
    from types import TracebackType

    from common.s3_store import LakeStore
    from common.source_tables import SourceTable

# A boolean mask of the rows of a block to keep (None: all of them).
RowFilter = Callable[[RenderedBlock], "pa.Array | None"]

# Bytes of CSV per block (~3 MiB of JSON): few Python calls per block, and a lower peak
# memory than bigger blocks at the same CPU time (docs/benchmarks.md).
_BLOCK = 1 << 20
_QUEUED_BLOCKS = 3  # bounds memory if the worker falls behind the database
# The lowest level: the extraction is CPU-bound on a 2-core box shared with PostgreSQL;
# the lake's bytes are cheap.
COMPRESS_LEVEL = 1


class _HashingFile:
    """Forwards writes to a file and hashes them: the checksum of the object's bytes."""

    def __init__(self, target: IO[bytes]) -> None:
        self.target = target
        self.sha256 = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        return self.target.write(data)

    def flush(self) -> None:
        self.target.flush()


class JsonlSpool:
    """Collect one table's COPY CSV rows as JSON lines in a gzip temp file.

    Use as a context manager (the temp file is deleted on exit). Rows go through
    ``write`` (the pg8000 COPY stream); ``begin`` starts a segment with its own row
    filter; ``drain`` waits until every row written so far has been filtered.
    """

    def __init__(self, table: SourceTable, directory: str | None = None) -> None:
        self._renderer = CsvRenderer(table)
        self._file = tempfile.TemporaryFile(dir=directory)  # noqa: SIM115 - closed in close()
        self._hashing = _HashingFile(self._file)
        # mtime=0: the same rows give the same bytes, so checksums are reproducible.
        self._gzip = GzipFile(fileobj=self._hashing, mode="wb", compresslevel=COMPRESS_LEVEL, mtime=0)  # type: ignore[arg-type]
        self._buffer = bytearray()
        self._buffered_rows = 0
        self._max_rows: int | None = None
        self._keep: RowFilter | None = None
        self.rows = 0
        self._finished = False
        self._blocks: queue.Queue[tuple[bytearray, RowFilter | None] | threading.Event | None] = queue.Queue(
            maxsize=_QUEUED_BLOCKS
        )
        self._error: BaseException | None = None
        self._worker = threading.Thread(target=self._work, name="jsonl-render-gzip", daemon=True)
        self._worker.start()

    # -- the worker thread -------------------------------------------------------
    def _work(self) -> None:
        while (item := self._blocks.get()) is not None:
            if isinstance(item, threading.Event):  # a drain() barrier: every block before it is done
                item.set()
            elif self._error is None:
                try:
                    self._render(*item)
                except BaseException as exc:  # kept and re-raised in the caller's thread
                    self._error = exc

    def _render(self, block: bytearray, keep: RowFilter | None) -> None:
        try:
            rendered = self._renderer.render(block)
        except pa.ArrowException as exc:  # a value the contract does not expect (e.g. an infinite timestamp)
            raise SourceQueryError(f"cannot render rows of {self._renderer.table.name}: {exc}") from exc
        lines = rendered.lines
        mask = keep(rendered) if keep is not None else None
        if mask is not None:
            lines = lines.filter(mask)
        self.rows += len(lines)
        self._gzip.write(value_bytes(lines))

    # -- the caller's thread -------------------------------------------------------
    def begin(self, keep: RowFilter | None = None, max_rows: int | None = None) -> None:
        """Start a segment: rows written from now on are filtered by ``keep`` (which runs
        on the worker thread), in blocks of at most ``max_rows`` rows if given."""
        self._flush()
        self._keep, self._max_rows = keep, max_rows

    def write(self, data: bytes) -> None:
        """Append one CSV row (pg8000 calls this once per COPY row: keep it cheap)."""
        self._buffer += data
        self._buffered_rows += 1
        if len(self._buffer) >= _BLOCK or self._buffered_rows == self._max_rows:
            self._flush()

    def _flush(self) -> None:
        if not self._buffer:
            return
        block, self._buffer, self._buffered_rows = self._buffer, bytearray(), 0
        self._put((block, self._keep))

    def _put(self, item: tuple[bytearray, RowFilter | None] | threading.Event | None) -> None:
        if not self._worker.is_alive():
            raise RuntimeError("the spool's worker thread has stopped")
        self._blocks.put(item)

    def drain(self) -> None:
        """Wait until every row written so far is rendered and filtered; raise its error."""
        self._flush()
        barrier = threading.Event()
        self._put(barrier)
        barrier.wait()
        if self._error is not None:
            raise self._error

    def _stop_worker(self) -> None:
        if self._worker.is_alive():
            self._blocks.put(None)
            self._worker.join()

    def finish(self) -> str:
        """Complete the gzip stream; return the sha256 hex of the object's bytes."""
        if not self._finished:
            self._flush()
            self._stop_worker()
            if self._error is not None:
                raise self._error
            self._gzip.close()
            self._finished = True
        return self._hashing.sha256.hexdigest()

    @property
    def size(self) -> int:
        """Bytes of the gzip object (after ``finish``)."""
        return self._file.seek(0, 2)

    def upload(self, store: LakeStore, key: str) -> str:
        """Create ``key`` from the spool (never overwriting); return the sha256 hex."""
        digest = self.finish()
        self._file.seek(0)
        store.put_new(key, self._file, content_type="application/x-ndjson", metadata={"sha256": digest})
        return digest

    def close(self) -> None:
        """Stop the worker thread and delete the temp file (also after an error)."""
        self._stop_worker()
        self._file.close()

    def __enter__(self) -> JsonlSpool:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
