"""JSON lines from blocks of ``COPY ... TO STDOUT (FORMAT csv)`` output, built with Arrow.

The server sends the raw contract columns as CSV (the cheapest thing it can do: about
as fast as a plain ``COPY`` of the table), and each block of whole CSV rows becomes
JSON lines here in a few vectorised passes (``pyarrow.csv`` to parse, ``pyarrow.compute``
to format and concatenate). Arrow releases the GIL, so this runs on the spool's worker
thread while the main thread drains the COPY stream.

The lines are the lake format of docs/architecture.md, byte for byte what the former
SQL rendering (``to_json`` / ``to_char``) produced:

* keys in contract order; integers as their digits; booleans ``true``/``false``;
* numeric as an exact decimal *string* (``"12.50"``: money never passes through a float);
* timestamps ``"YYYY-MM-DDTHH:MM:SS.mmm"`` (always three fraction digits);
* text, text dates and enums as JSON strings escaped like PostgreSQL's ``escape_json``:
  ``"`` and ``\\`` backslashed, ``\\b \\f \\n \\r \\t`` short, other characters below
  0x20 as ``\\u00xx`` (lower-case hex), everything else (non-ASCII too) as is;
* NULL as ``null``. PostgreSQL's CSV writes NULL as an unquoted empty field and ``''``
  as ``""``, and the parse options below keep the two apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from common.source_tables import ColumnType, SourceTable

_TIMESTAMP = pa.timestamp("ms")  # the source's timestamp(3)
# Bytes JSON (and so escape_json) must escape in a string: those below 0x20 and these.
_DQUOTE, _BACKSLASH = ord('"'), ord("\\")
_SHORT_ESCAPES = {"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_NULL = pa.scalar("null")
_QUOTE = pa.scalar('"')


def _arrow_type(kind: ColumnType) -> pa.DataType:
    """How a CSV field is parsed: only what must be re-formatted is parsed at all."""
    if kind is ColumnType.TIMESTAMP:
        return _TIMESTAMP
    if kind is ColumnType.BOOLEAN:
        return pa.bool_()
    return pa.string()  # integers and numerics are printed exactly as the server wrote them


def escape_json(text: pa.Array) -> pa.Array:
    """``text`` with the characters JSON forbids in a string escaped as ``escape_json`` does.

    Most blocks hold none of them, so one scan of the values' bytes usually decides that
    nothing is to do, and otherwise which passes are needed.
    """
    chars = np.frombuffer(value_bytes(text), dtype=np.uint8)
    control = bool((chars < 0x20).any())
    if not (control or (chars == _DQUOTE).any() or (chars == _BACKSLASH).any()):
        return text
    # UTF-8 never uses these bytes inside a multi-byte character, so bytes are enough.
    text = pc.replace_substring(text, "\\", "\\\\")  # first: the escapes below add backslashes
    text = pc.replace_substring(text, '"', '\\"')
    if control:
        for code in range(0x20):
            char = chr(code)
            text = pc.replace_substring(text, char, _SHORT_ESCAPES.get(char, f"\\u{code:04x}"))
    return text


def value_bytes(text: pa.Array) -> pa.Buffer:
    """The concatenated UTF-8 of a string array's values (nulls add nothing): a slice of
    its data buffer, no copy. For JSON lines, the bytes of the object; for a scan with
    numpy, far cheaper than a regex over the values (docs/benchmarks.md, "Measurements
    behind the code")."""
    data = text.buffers()[2]
    if data is None or len(text) == 0:
        return pa.py_buffer(b"")
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int32, count=text.offset + len(text) + 1)
    first, last = int(offsets[text.offset]), int(offsets[-1])
    return data.slice(first, last - first)


def _odd_timestamps(values: pa.Array) -> pa.Array:
    """Timestamps read as text because one of the block is none Arrow can read
    (``infinity``, a BC date, a year past 9999): the readable ones formatted as usual,
    the others kept as PostgreSQL's text, so transform quarantines the row as bad input
    instead of the whole table failing to ingest. Rare, so plain Python is fine."""
    out: list[str | None] = []
    for text in values.to_pylist():
        try:
            moment = datetime.fromisoformat(text) if text is not None else None
        except ValueError:
            out.append(text)
        else:
            out.append(None if moment is None else f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}")
    return escape_json(pa.array(out, pa.string()))


def _value_text(kind: ColumnType, values: pa.Array) -> pa.Array:
    """One column's values as the text between the JSON quotes (strings) or as the JSON
    value itself (numbers, booleans); NULL stays null for the caller to write ``null``."""
    if kind is ColumnType.TIMESTAMP and values.type == pa.string():
        return _odd_timestamps(values)
    if kind is ColumnType.TIMESTAMP:
        # Casting a millisecond timestamp prints "2024-01-02 03:04:05.120" (three digits
        # always), in C rather than a Python strftime per value; the 'T' goes in by position.
        return pc.binary_replace_slice(pc.cast(values, pa.string()), 10, 11, "T")
    if kind is ColumnType.BOOLEAN:
        return pc.cast(values, pa.string())  # "true" / "false"
    if kind in (ColumnType.INTEGER, ColumnType.NUMERIC):
        return values  # the server's own digits: exact
    return escape_json(values)  # text, text dates, enums


def _is_string(kind: ColumnType) -> bool:
    """Whether a column's JSON value is a string (numeric too: money is never a float)."""
    return kind not in (ColumnType.INTEGER, ColumnType.BOOLEAN)


@dataclass(frozen=True)
class RenderedBlock:
    """The JSON lines of one block, and the columns the caller may need per row.

    Attributes
    ----------
    lines
        One string per row, each a JSON document ending in ``\\n``.
    ids
        The primary keys (as parsed from CSV text).
    last_updated
        ``last_updated`` formatted like a watermark (``YYYY-MM-DDTHH:MM:SS.mmm``).
    """

    lines: pa.Array
    ids: pa.Array
    last_updated: pa.Array


class CsvRenderer:
    """Turns CSV blocks of ``table``'s contract columns (in contract order) into JSON lines."""

    def __init__(self, table: SourceTable) -> None:
        self.table = table
        names = list(table.column_names)
        self._read = pa_csv.ReadOptions(column_names=names, use_threads=False, block_size=1 << 26)
        # Quoted fields may hold newlines (a text value with a line break).
        self._parse = pa_csv.ParseOptions(newlines_in_values=True)
        self._convert = _convert_options(table, timestamps_as_text=False)
        self._convert_text = _convert_options(table, timestamps_as_text=True)
        # Literal pieces between the values: '{"id":', ',"name":', ... and '}\n' at the end.
        self._keys = [("{" if i == 0 else ",") + f'"{c.name}":' for i, c in enumerate(table.columns)]

    def _read_csv(self, block: bytes | bytearray | memoryview, convert: pa_csv.ConvertOptions) -> pa.Table:
        reader = pa.BufferReader(pa.py_buffer(block))  # no copy of the block
        return pa_csv.read_csv(reader, read_options=self._read, parse_options=self._parse, convert_options=convert)

    def parse(self, block: bytes | bytearray | memoryview) -> pa.Table:
        """The CSV rows of ``block`` (whole rows only) as an Arrow table of one chunk per column."""
        try:
            table = self._read_csv(block, self._convert)
        except pa.ArrowInvalid:  # maybe a timestamp Arrow cannot read: see _odd_timestamps
            table = self._read_csv(block, self._convert_text)
        return table.combine_chunks()

    def render(self, block: bytes | bytearray | memoryview) -> RenderedBlock:
        """Parse ``block`` and build one JSON line per row (one concatenation for all columns)."""
        rows = self.parse(block)
        # Alternating literal text and value arrays; adjacent literals are merged, so a
        # string column without NULLs costs no pass of its own for its quotes.
        pieces: list[str | pa.Array] = []
        texts: dict[str, pa.Array] = {}
        for key, col in zip(self._keys, self.table.columns, strict=True):
            text = _value_text(col.type, _single_chunk(rows.column(col.name)))
            texts[col.name] = text
            if not _is_string(col.type):
                _append(pieces, key, pc.fill_null(text, _NULL) if text.null_count else text)
            elif text.null_count:
                _append(pieces, key, pc.fill_null(pc.binary_join_element_wise(_QUOTE, text, _QUOTE, ""), _NULL))
            else:
                _append(pieces, key + '"', text, '"')
        _append(pieces, "}\n")
        lines = pc.binary_join_element_wise(*[pa.scalar(p) if isinstance(p, str) else p for p in pieces], "")
        return RenderedBlock(lines, texts[self.table.primary_key], texts["last_updated"])


def _append(pieces: list[str | pa.Array], *items: str | pa.Array) -> None:
    """Append to ``pieces``, merging a literal into a literal just before it."""
    for item in items:
        if isinstance(item, str) and pieces and isinstance(pieces[-1], str):
            pieces[-1] += item
        else:
            pieces.append(item)


def _convert_options(table: SourceTable, *, timestamps_as_text: bool) -> pa_csv.ConvertOptions:
    types = {c.name: _arrow_type(c.type) for c in table.columns}
    if timestamps_as_text:
        types = {name: pa.string() if kind == _TIMESTAMP else kind for name, kind in types.items()}
    return pa_csv.ConvertOptions(
        column_types=types,
        null_values=[""],
        strings_can_be_null=True,  # an unquoted empty field: NULL
        quoted_strings_can_be_null=False,  # "": the empty string
        true_values=["t"],
        false_values=["f"],
    )


def _single_chunk(column: pa.ChunkedArray) -> pa.Array:
    if column.num_chunks == 1:
        return column.chunk(0)
    return pa.concat_arrays(column.chunks) if column.num_chunks else pa.array([], column.type)
