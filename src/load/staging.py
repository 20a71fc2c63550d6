"""Parquet into temporary staging tables with ``COPY ... FROM STDIN``.

Each record batch is rendered to CSV by pyarrow (C++, no Python row objects) and
handed to pg8000 as one CopyData message, so memory stays at one row group plus
one batch of CSV however large the file is. While the batches stream past, the few
facts the rest of the run needs are collected from them (row count, NULLs in
required columns, the distinct dates a fact references, the newest ``last_updated``),
so nothing has to scan the staging table a second time to find them. The dimension
keys a fact references are not collected: there can be millions (one transaction per
payment), so the database finds the missing ones (``upsert.infer_missing_members``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, NoReturn

import numpy as np
import pg8000.exceptions
import pg8000.native
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from pg8000.native import identifier

from common.prefetch import prefetched
from common.value_domain import MAX_DAY, MIN_DAY
from common.warehouse_tables import Kind, WarehouseTable
from load import binary_copy
from load.errors import NullInBatchError, ParquetSchemaError, ParquetStreamError

DEFAULT_BATCH_ROWS = 65_536
_CSV_OPTIONS = pacsv.WriteOptions(include_header=False, batch_size=DEFAULT_BATCH_ROWS)
# Equivalent Arrow spellings we accept without complaint (same values, other layout).
_EQUIVALENT = {pa.large_string(): pa.string()}


@dataclass
class CopySummary:
    """What COPYing one Parquet file saw on the way, wherever the rows went (a staging table or the fact)."""

    table: WarehouseTable
    rows: int = 0
    null_counts: dict[str, int] = field(default_factory=dict)  # required columns only
    distinct: dict[str, set[object]] = field(default_factory=dict)  # date columns of a fact (a few thousand days)
    max_last_updated: dt.datetime | None = None

    @property
    def has_nulls_in_required(self) -> bool:
        return any(self.null_counts.values())

    def dates(self) -> Iterator[object]:
        """Every date a fact's rows reference (what dim_date must hold before they go in)."""
        return (d for c in self.table.date_columns for d in self.distinct.get(c, ()))


@dataclass
class StagedTable(CopySummary):
    """One Parquet file COPYed into the run's temporary staging table ``staging``, and what was seen."""

    staging: str = field(default="", kw_only=True)  # the temp table's (unquoted) name


def staging_name(table: WarehouseTable) -> str:
    return f"stg_{table.name}"


def check_parquet_schema(table: WarehouseTable, schema: pa.Schema) -> None:
    """Raise ParquetSchemaError unless ``schema`` carries exactly ``table``'s columns and types.

    The column order does not matter (batches are re-ordered by name); a missing,
    extra or differently typed column does, because loading it would mean guessing.
    """
    expected = {c.name: c.type for c in table.columns}
    actual = {f.name: _EQUIVALENT.get(f.type, f.type) for f in schema}
    problems = []
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    if missing:
        problems.append(f"missing columns {missing}")
    if extra:
        problems.append(f"unexpected columns {extra}")
    for name in sorted(set(expected) & set(actual)):
        if actual[name] != expected[name]:
            problems.append(f"{name} is {actual[name]}, expected {expected[name]}")
    if problems:
        raise ParquetSchemaError(f"{table.name} Parquet does not match the warehouse contract: {'; '.join(problems)}")


_EPOCH = dt.datetime(1970, 1, 1)


def _combine_date_time(dates: pa.Array, times: pa.Array) -> dt.datetime | None:
    """The newest (date, time) pair of one batch, as a naive UTC datetime.

    Computed on the integers behind date32/time64 and compared with an Arrow scalar:
    turning a Python value into an Arrow one (``pa.scalar(date)``, ``pc.equal(a, 3)``)
    makes pyarrow import pandas, once per process (a Lambda cold start, and every
    benchmark child; the cost is in docs/benchmarks.md).
    """
    days = dates.cast(pa.int32())
    # A date Python cannot hold (year 0) is for PostgreSQL to refuse, not for this summary.
    days = pc.filter(days, pc.and_(pc.greater_equal(days, MIN_DAY), pc.less_equal(days, MAX_DAY)))
    newest = pc.max(days)
    if not newest.is_valid:
        return None
    micros = pc.max(pc.filter(times.cast(pa.int64()), pc.equal(days, newest))).as_py()
    return _EPOCH + dt.timedelta(days=newest.as_py(), microseconds=micros or 0)


def _distinct(column: pa.Array) -> list[object]:
    """The distinct non-null values of a column as Python values.

    A date outside Python's years 1-9999 (transform never ships one; a foreign producer
    might) stays the ISO text Arrow renders it as, so that PostgreSQL accepts or refuses
    it (``upsert.ensure_dates``) instead of this summary crashing the load.
    """
    values = pc.unique(column.drop_null())
    if pa.types.is_date32(values.type):
        days = values.cast(pa.int32())
        outside = pc.or_(pc.less(days, MIN_DAY), pc.greater(days, MAX_DAY))
        if pc.any(outside).as_py():
            inside = pc.filter(values, pc.invert(outside)).to_pylist()
            return inside + pc.cast(pc.filter(values, outside), pa.string()).to_pylist()
    return values.to_pylist()


def _observe(staged: CopySummary, batch: pa.RecordBatch) -> None:
    """Fold one batch into the running summary."""
    table = staged.table
    staged.rows += batch.num_rows
    for name in table.required:
        staged.null_counts[name] = staged.null_counts.get(name, 0) + batch.column(name).null_count
    if table.kind is Kind.FACT:
        for name in table.date_columns:
            staged.distinct.setdefault(name, set()).update(_distinct(batch.column(name)))
        newest = _combine_date_time(batch.column("last_updated_date"), batch.column("last_updated_time"))
        if newest is not None and (staged.max_last_updated is None or newest > staged.max_last_updated):
            staged.max_last_updated = newest


def _batches(parquet: pq.ParquetFile, staged: CopySummary, batch_rows: int) -> Iterator[pa.RecordBatch]:
    """The Parquet's record batches in the allow-list's column order, each observed on the way."""
    names = list(staged.table.column_names)
    # Nullable on purpose: a NULL in a NOT NULL column is quarantined later, not refused here.
    target = pa.schema([pa.field(c.name, c.type, nullable=True) for c in staged.table.columns])
    for batch in parquet.iter_batches(batch_size=batch_rows, columns=names, use_threads=False):
        batch = batch.select(names)
        if batch.schema.types != target.types:  # only large_string -> string can get here (check_parquet_schema)
            batch = batch.cast(target, safe=True)
        _observe(staged, batch)
        yield batch


def csv_chunks(parquet: pq.ParquetFile, staged: CopySummary, batch_rows: int = DEFAULT_BATCH_ROWS) -> Iterator[bytes]:
    """Yield one CSV chunk per record batch of ``parquet``, in the allow-list's column order.

    Nulls become unquoted empty fields and strings are always quoted, which is exactly
    how PostgreSQL's CSV COPY tells NULL from the empty string.
    """
    for batch in _batches(parquet, staged, batch_rows):
        sink = pa.BufferOutputStream()
        pacsv.write_csv(batch, sink, _CSV_OPTIONS)
        yield sink.getvalue().to_pybytes()


def binary_chunks(
    parquet: pq.ParquetFile,
    staged: CopySummary,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    first_id: int | None = None,
) -> Iterator[bytes]:
    """Yield the binary COPY stream of ``parquet``: header, one chunk per batch, trailer.

    With ``first_id``, each row is prefixed with a surrogate key counting up from it
    (the fact's serial column, reserved by the caller). Raises NullInBatchError
    (through the stream) at the first batch holding a NULL.
    """
    yield binary_copy.HEADER
    next_id = first_id
    for batch in _batches(parquet, staged, batch_rows):
        if next_id is not None:
            # From the buffer: pa.array(ndarray) would make pyarrow import pandas.
            values = np.arange(next_id, next_id + batch.num_rows, dtype=np.int32)
            ids = pa.Array.from_buffers(pa.int32(), batch.num_rows, [None, pa.py_buffer(values)])
            batch = pa.RecordBatch.from_arrays([ids, *batch.columns], names=["_id", *batch.schema.names])
            next_id += batch.num_rows
        yield binary_copy.encode_batch(batch)
    yield binary_copy.TRAILER


def create_staging_table(con: pg8000.native.Connection, table: WarehouseTable) -> str:
    """Create the run's temporary staging table for ``table``; it disappears at COMMIT/ROLLBACK.

    Typed like the warehouse table (CREATE TABLE AS ... WITH NO DATA copies the
    column types) but without its constraints, so a bad row can be quarantined
    instead of failing the COPY.
    """
    name = staging_name(table)
    cols = ", ".join(identifier(c) for c in table.column_names)
    con.run(
        f"CREATE TEMPORARY TABLE {identifier(name)} ON COMMIT DROP AS "  # noqa: S608  # nosec B608
        f"SELECT {cols} FROM public.{identifier(table.name)} WITH NO DATA"
    )
    return name


def open_parquet(table: WarehouseTable, source: BinaryIO) -> pq.ParquetFile:
    """Open ``source`` and check it against the contract before any row is sent.

    Raises
    ------
    ParquetSchemaError
        Not Parquet, or its columns or types differ from the contract.
    """
    try:
        parquet = pq.ParquetFile(source)
    except (pa.ArrowInvalid, OSError) as exc:
        raise ParquetSchemaError(f"{table.name}: not a readable Parquet file: {exc}") from exc
    check_parquet_schema(table, parquet.schema_arrow)
    return parquet


def stage_parquet(
    con: pg8000.native.Connection,
    table: WarehouseTable,
    source: BinaryIO,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> StagedTable:
    """COPY one Parquet file into a new staging table; must run inside the run's transaction.

    Parameters
    ----------
    con
        The loader's connection, inside an open transaction.
    table
        The allow-listed warehouse table the file belongs to.
    source
        The Parquet file, opened for binary reading (seekable).
    batch_rows
        Rows per record batch, i.e. per CopyData message.

    Returns
    -------
    StagedTable
        The staging table's name and what was observed while copying.

    Raises
    ------
    ParquetSchemaError
        The file's columns or types differ from the contract (checked before any row is sent).
    """
    parquet = open_parquet(table, source)
    staged = StagedTable(table=table, staging=create_staging_table(con, table))
    copy_parquet(con, parquet, staged, identifier(staged.staging), batch_rows, binary=False)
    return staged


def copy_parquet(
    con: pg8000.native.Connection,
    parquet: pq.ParquetFile,
    staged: CopySummary,
    target: str,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    *,
    binary: bool = False,
    first_id: int | None = None,
) -> None:
    """COPY ``parquet`` into ``target`` (a quoted relation name), folding what it sees into ``staged``.

    ``first_id`` (binary only, facts only): send the surrogate key, numbered from it,
    instead of letting the column default call nextval() once per row.

    The encoding runs in a helper thread one batch ahead of the socket, so the client
    encodes batch n+1 while the server parses batch n (pyarrow and numpy release the GIL).

    A failure while reading or encoding the Parquet cannot be raised from inside
    pg8000's COPY (see ``_guarded``): it ends the COPY with a server error instead,
    and is raised after it, as one of these:

    Raises
    ------
    ParquetSchemaError
        Reading the Parquet failed part way through (the COPY failed with it).
    ParquetStreamError
        Encoding refused a batch (e.g. ``NullInBatchError``); ``.cause`` says why.
    pg8000.exceptions.DatabaseError
        The server refused the rows.
    """
    names = list(staged.table.column_names)
    if first_id is not None:
        if not binary:
            raise ValueError("surrogate keys are only sent in binary COPY")
        names.insert(0, staged.table.surrogate_key)
    cols = ", ".join(identifier(c) for c in names)
    fmt = "binary" if binary else "csv"
    chunks = binary_chunks(parquet, staged, batch_rows, first_id) if binary else csv_chunks(parquet, staged, batch_rows)
    abort = _ABORT_BINARY if binary else _ABORT_CSV
    failures: list[Exception] = []
    try:
        con.run(
            f"COPY {target} ({cols}) FROM STDIN WITH (FORMAT {fmt})",  # nosec B608
            stream=_guarded(prefetched(chunks, depth=2, name="copy-encoder"), failures, abort),
        )
    except pg8000.exceptions.DatabaseError as exc:
        if not failures:
            raise
        _raise_stream_failure(staged.table, failures[0], exc)
    if failures:
        # The server took the abort marker for the end of the data and kept the rows
        # before it: never a partial table. The caller rolls back (run or savepoint).
        _raise_stream_failure(staged.table, failures[0], None)


def _raise_stream_failure(table: WarehouseTable, cause: Exception, copy_error: Exception | None) -> NoReturn:
    if isinstance(cause, NullInBatchError):
        raise ParquetStreamError(cause) from copy_error or cause
    raise ParquetSchemaError(f"{table.name}: reading the Parquet failed during COPY: {cause}") from cause


# A row with too few fields: PostgreSQL rejects it and ends the COPY with an error.
_ABORT_CSV = b"\n"
# A binary tuple of 0 fields ("row field count is 0, expected n"). Not a short
# fragment: the binary reader takes a tuple header cut short by the end of the data
# for a clean end of file and commits the rows before it.
_ABORT_BINARY = b"\x00\x00"


def _guarded(chunks: Iterator[bytes], failures: list[Exception], abort: bytes) -> Iterator[bytes]:
    """Turn a failure while reading the Parquet into a clean COPY error.

    pg8000 cannot send CopyFail: if the stream it iterates raises, the protocol is
    left mid-COPY and the connection is lost. Instead the error is stashed and one
    malformed row is sent, so the server fails the COPY normally, the connection
    survives, and ``copy_parquet`` raises the stashed error.
    """
    try:
        yield from chunks
    except Exception as exc:  # re-raised by copy_parquet, chained, once the COPY has failed
        failures.append(exc)
        yield abort
