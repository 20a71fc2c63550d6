"""Ingest JSONL objects into typed Arrow tables, with vectorised validation.

The hot path never loops over rows in Python: a block of lines is parsed by
pyarrow's JSON reader against an explicit schema (``schemas.json_read_schema``) and
each column is cast to its warehouse type with one strict Arrow cast. Only when
something is wrong does a slower path run, and only over the part that is wrong:

* pyarrow's reader rejects a whole block if a single line is malformed JSON or has
  a value of the wrong JSON type, so such a block is re-read line by line with
  ``json.loads`` (bad lines are quarantined, the rest is parsed by Arrow again);
* a strict cast fails for a whole column if one value is bad, so the bad values
  are located by bisection (``O(bad · log n)`` casts) and only those rows rejected.

Blocks are cut at line ends from a streaming decompressor, so memory is bounded by
the block size, not the object size.

Parallelism (a big run is CPU-bound on the Lambda's two vCPUs): one thread inflates
and cuts blocks, ``PARSE_WORKERS`` threads each parse and validate a whole block
(Arrow's JSON reader and compute release the GIL), and the caller consumes the
chunks in order while the next ones are being parsed. Parsing a block in one piece
on one thread costs less CPU than letting Arrow split it into sub-blocks over its
own thread pool (docs/benchmarks.md), and blocks in
flight at once keep both cores busy just as well.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.json as pj

from common.prefetch import prefetched
from common.source_tables import ColumnType, SourceTable
from common.value_domain import check_column, null_problem
from lake.quarantine import BadRow
from transform.rejects import Check, bad_rows_from, split_rejected
from transform.schemas import LINE_NO, json_read_schema, source_schema

# Tens of thousands of sales_order lines: the few blocks and Arrow tables in flight
# stay well under 100 MB (docs/benchmarks.md).
DEFAULT_BLOCK_BYTES = 8 << 20

_JSON_KIND: dict[ColumnType, str] = {
    ColumnType.INTEGER: "integer",
    ColumnType.NUMERIC: "string",
    ColumnType.TEXT: "string",
    ColumnType.TEXT_DATE: "string",
    ColumnType.TIMESTAMP: "string",
    ColumnType.BOOLEAN: "boolean",
    ColumnType.ENUM: "string",
}
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
# Blocks parsed at once (one per vCPU of the Lambda), and how many may be queued or
# parsed ahead of the consumer: bounds memory to a few blocks and their Arrow tables.
PARSE_WORKERS = 2
_PIECE_BYTES = 1 << 20
_NEWLINE = ord("\n")
_AHEAD = PARSE_WORKERS + 1


@dataclass
class Chunk:
    """The rows of one block of an ingest object.

    ``rows`` has the typed source schema plus ``_line_no``; ``bad`` holds the block's
    rejected lines. ``raw_line`` gives the text of any line of the block, so rows
    rejected later (a foreign key, a failed join) are quarantined with their raw text.
    """

    rows: pa.Table
    bad: list[BadRow]
    first_line: int
    block: bytes
    _lines: list[bytes] | None = field(default=None, repr=False)

    @property
    def last_line(self) -> int:
        # iter_blocks ends every block with a newline
        return self.first_line + count_lines(self.block) - 1

    def raw_line(self, line_no: int) -> str | None:
        if self._lines is None:
            self._lines = self.block.split(b"\n")
        i = line_no - self.first_line
        if 0 <= i < len(self._lines):
            return self._lines[i].decode("utf-8", errors="replace")
        return None


@dataclass
class ObjectRows:
    """Every row of one ingest object (for the small dimension-source tables)."""

    rows: pa.Table
    bad: list[BadRow]
    chunks: list[Chunk]

    @classmethod
    def from_chunks(cls, chunks: list[Chunk], table: SourceTable) -> ObjectRows:
        return cls(
            rows=concat_rows([c.rows for c in chunks], table),
            bad=[b for c in chunks for b in c.bad],
            chunks=chunks,
        )

    def raw_line(self, line_no: int) -> str | None:
        for chunk in self.chunks:
            if chunk.first_line <= line_no <= chunk.last_line:
                return chunk.raw_line(line_no)
        return None


def count_lines(data: bytes) -> int:
    """Newlines in ``data``: numpy compares a block's bytes faster than ``bytes.count`` (docs/benchmarks.md)."""
    return int(np.count_nonzero(np.frombuffer(data, dtype=np.uint8) == _NEWLINE))


def iter_blocks(stream: IO[bytes], block_bytes: int = DEFAULT_BLOCK_BYTES) -> Iterator[tuple[int, bytes]]:
    """Cut a byte stream into blocks of whole lines; yield (first line number, block).

    The stream is read in pieces of at most ``_PIECE_BYTES`` (cache-sized, which is
    also what an inflater produces cheapest) and each block is joined from its pieces
    once: a block's bytes are copied a single time on their way to the parser.
    """
    piece_bytes = max(1, min(block_bytes, _PIECE_BYTES))
    line_no = 1
    pieces: list[bytes] = []
    size = 0
    while piece := stream.read(piece_bytes):
        pieces.append(piece)
        size += len(piece)
        if size < block_bytes:
            continue
        cut = piece.rfind(b"\n")
        if cut < 0:  # no line ends in this piece: the block grows until one does
            continue
        pieces[-1] = piece[: cut + 1]
        block = b"".join(pieces)
        yield line_no, block
        line_no += count_lines(block)
        rest = piece[cut + 1 :]
        pieces, size = ([rest], len(rest)) if rest else ([], 0)
    if pieces:
        block = b"".join(pieces)
        yield line_no, block if block.endswith(b"\n") else block + b"\n"


def iter_chunks(
    stream: IO[bytes],
    table: SourceTable,
    *,
    run_seq: int,
    source_key: str | None,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
) -> Iterator[Chunk]:
    """Parse and validate a decompressed JSONL stream of ``table`` block by block.

    Parameters
    ----------
    stream : binary file object
        The decompressed JSON lines.
    table : SourceTable
        The contract the lines follow.
    run_seq : int
        Ingestion run the object belongs to (for quarantine records).
    source_key : str or None
        The object's key (for quarantine records).
    block_bytes : int
        Approximate bytes per block; bounds memory.

    Yields
    ------
    Chunk
        Valid typed rows and rejected lines of each block.
    """
    with ThreadPoolExecutor(max_workers=PARSE_WORKERS, thread_name_prefix="parse") as pool:
        ahead: deque[Future[Chunk]] = deque()
        try:
            for first_line, block in prefetched(iter_blocks(stream, block_bytes), name="inflate"):
                ahead.append(pool.submit(parse_block, block, first_line, table, run_seq=run_seq, source_key=source_key))
                if len(ahead) >= _AHEAD:
                    yield ahead.popleft().result()
            while ahead:
                yield ahead.popleft().result()
        finally:  # the consumer stopped early or something failed: parse nothing more
            for future in ahead:
                future.cancel()


@cache
def empty_rows(table: SourceTable) -> pa.Table:
    """A zero-row table with the typed schema plus ``_line_no`` (immutable, so shared)."""
    return source_schema(table).append(pa.field(LINE_NO, pa.int64())).empty_table()


def concat_rows(parts: list[pa.Table], table: SourceTable) -> pa.Table:
    return pa.concat_tables(parts) if parts else empty_rows(table)


def parse_block(block: bytes, first_line: int, table: SourceTable, *, run_seq: int, source_key: str | None) -> Chunk:
    """Parse and validate one block of whole lines (see the module docstring)."""
    n_lines = count_lines(block)
    parsed: pa.Table | None = None
    bad: list[BadRow] = []
    try:
        parsed = _read_json(block, table)
    except pa.ArrowInvalid:
        parsed = None
    # pyarrow skips blank lines, which would shift its row numbers against our line
    # numbers: a row count that differs from the line count sends the block to the slow path.
    if parsed is not None and parsed.num_rows != n_lines:
        parsed = None
    if parsed is not None:
        parsed = parsed.append_column(LINE_NO, _line_numbers(first_line, n_lines))
    chunk = Chunk(rows=empty_rows(table), bad=bad, first_line=first_line, block=block)
    if parsed is None:
        parsed, bad_lines = _parse_lines_slowly(block, first_line, table, run_seq, source_key)
        bad.extend(bad_lines)
    rows, bad_index, reasons = validate(parsed, table)
    bad.extend(
        bad_rows_from(
            parsed,
            bad_index,
            reasons,
            table=table.name,
            run_seq=run_seq,
            source_key=source_key,
            primary_key=table.primary_key,
            line_no_column=LINE_NO,
            raw_line=chunk.raw_line,
        )
    )
    bad.sort(key=lambda b: b.line_no or 0)
    chunk.rows = rows
    return chunk


def _line_numbers(first: int, n: int) -> pa.Array:
    """first, first+1, ... as int64 (zero-copy over a numpy buffer)."""
    values = np.arange(first, first + n, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), n, [None, pa.py_buffer(values)])


def _read_json(data: bytes, table: SourceTable) -> pa.Table:
    options = pj.ParseOptions(explicit_schema=json_read_schema(table), unexpected_field_behavior="ignore")
    # One Arrow block for the whole of ``data``: on one thread (iter_chunks parallelises
    # over blocks instead), and no line can straddle Arrow's block boundary.
    read = pj.ReadOptions(block_size=max(len(data), 1 << 16), use_threads=False)
    return pj.read_json(pa.BufferReader(data), parse_options=options, read_options=read)


def _json_type_error(doc: Any, table: SourceTable) -> str | None:
    """Why a decoded line cannot be a row of ``table`` (JSON shape/types only), or None."""
    if not isinstance(doc, dict):
        return f"malformed JSON line: expected an object, got {type(doc).__name__}"
    for col in table.columns:
        value = doc.get(col.name)
        if value is None:
            continue
        kind = _JSON_KIND[col.type]
        if kind == "integer":
            ok = isinstance(value, int) and not isinstance(value, bool) and _INT64_MIN <= value <= _INT64_MAX
        elif kind == "boolean":
            ok = isinstance(value, bool)
        else:
            ok = isinstance(value, str)
        if not ok:
            return f"wrong type: {col.name} must be a JSON {kind}, got {type(value).__name__}"
    return None


def _parse_lines_slowly(
    block: bytes, first_line: int, table: SourceTable, run_seq: int, source_key: str | None
) -> tuple[pa.Table, list[BadRow]]:
    """Per-line fallback for a block pyarrow rejected: quarantine bad lines, Arrow-parse the rest."""
    good_lines: list[bytes] = []
    good_numbers: list[int] = []
    bad: list[BadRow] = []
    for offset, line in enumerate(block.split(b"\n")[:-1] if block.endswith(b"\n") else block.split(b"\n")):
        line_no = first_line + offset
        if not line.strip():
            continue  # a blank line holds no row; nothing to keep
        raw = line.decode("utf-8", errors="replace")
        try:
            doc = json.loads(line)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            bad.append(BadRow(table.name, run_seq, source_key, line_no, None, f"malformed JSON line: {exc}", raw))
            continue
        problem = _json_type_error(doc, table)
        if problem is not None:
            pk = doc.get(table.primary_key) if isinstance(doc, dict) else None
            pk = pk if isinstance(pk, int) and not isinstance(pk, bool) else None
            bad.append(BadRow(table.name, run_seq, source_key, line_no, pk, problem, raw))
            continue
        good_lines.append(line)
        good_numbers.append(line_no)
    if not good_lines:
        parsed = json_read_schema(table).empty_table()
    else:
        try:
            parsed = _read_json(b"\n".join(good_lines) + b"\n", table)
        except pa.ArrowInvalid:
            # Something json.loads accepts but Arrow does not: find it line by line.
            parts, kept = [], []
            for line, line_no in zip(good_lines, good_numbers, strict=True):
                try:
                    parts.append(_read_json(line + b"\n", table))
                    kept.append(line_no)
                except pa.ArrowInvalid as exc:
                    raw = line.decode("utf-8", errors="replace")
                    bad.append(BadRow(table.name, run_seq, source_key, line_no, None, f"unreadable row: {exc}", raw))
            good_numbers = kept
            parsed = pa.concat_tables(parts) if parts else json_read_schema(table).empty_table()
    return parsed.append_column(LINE_NO, pa.array(good_numbers, pa.int64())), bad


# --- vectorised validation ---------------------------------------------------


def validate(parsed: pa.Table, table: SourceTable) -> tuple[pa.Table, list[int], list[str]]:
    """Type the parsed columns and reject rows that break the source contract.

    What the warehouse can hold is ``common.value_domain``'s one definition (shared with
    reconcile). Checks, in the order a row's reason is chosen: a NOT NULL column missing
    or null; then per column a value its warehouse type cannot hold (integer out of int32
    range, money that is not numeric(10,2), a text date or timestamp that does not parse
    or lies outside years 1-9999, text with a NUL, an enum label that is not one of the
    type's values).

    Parameters
    ----------
    parsed : pyarrow.Table
        Columns as read by ``json_read_schema`` plus ``_line_no``.
    table : SourceTable
        The contract.

    Returns
    -------
    rows : pyarrow.Table
        Valid rows, typed by ``source_schema`` plus ``_line_no``.
    bad_index, reasons
        Positions in ``parsed`` of the rejected rows and why (see ``split_rejected``).
    """
    checks: list[Check] = []
    for col in table.columns:
        problem = null_problem(parsed.column(col.name), col)
        if problem is not None:
            checks.append(problem)
    target = source_schema(table)
    typed: dict[str, pa.ChunkedArray] = {}
    for col in table.columns:
        checked = check_column(parsed.column(col.name), col)
        checks.extend(checked.problems)
        typed[col.name] = checked.values
    typed_table = pa.Table.from_arrays(
        [*(typed[c.name] for c in table.columns), parsed.column(LINE_NO)],
        schema=pa.schema([*(pa.field(f.name, f.type) for f in target), pa.field(LINE_NO, pa.int64())]),
    )
    good, bad_index, reasons = split_rejected(typed_table, checks)
    # Declare NOT NULL fields non-nullable now that nulls are gone.
    good = good.cast(target.append(pa.field(LINE_NO, pa.int64(), nullable=False)))
    return good, bad_index, reasons
