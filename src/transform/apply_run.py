"""Transform one committed ingestion run into Parquet, given the state the previous run left.

Order inside a run (docs/transform.md): dimension sources parents first (address,
department, then counterparty and staff that join them, then currency, design,
payment_type, transaction), so every join and foreign-key check sees this run's
rows; then the three facts, streamed block by block; then dim_date from the dates
the facts referenced. Nothing is committed here: the caller writes the commit record
last, so a crash anywhere leaves only orphans.
"""

from __future__ import annotations

import os
import tempfile
import time
import zlib
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from gzip import BadGzipFile
from typing import IO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from common.s3_store import LakeStore
from common.source_tables import SOURCE_TABLES
from lake.commit_record import CommitRecord, ObjectRef
from lake.keys import snapshot_key, table_key
from lake.manifest import IngestManifest, utc_stamp
from lake.quarantine import BadRow
from transform import dimensions as dims
from transform.dim_date import build_dim_date
from transform.errors import ObjectRejectedError
from transform.facts import FACT_BUILDERS, foreign_key_checks, referenced_dates
from transform.ingest_objects import HashingReader, open_object
from transform.quarantine import QuarantineLog, bad_rows_from, split_rejected, write_quarantine
from transform.reader import DEFAULT_BLOCK_BYTES, Chunk, ObjectRows, concat_rows, iter_chunks
from transform.schemas import FACT_SOURCES, LINE_NO, SNAPSHOT_TABLES, WAREHOUSE_SCHEMAS, WAREHOUSE_TABLE_ORDER
from transform.snapshot import PARQUET_OPTIONS, apply_changes, latest_per_key, write_parquet

try:  # ISA-L inflates the same gzip format ~3x faster than zlib: a third of a big run's CPU
    from isal.igzip import GzipFile
    from isal.isal_zlib import error as inflate_error
except ImportError:  # pragma: no cover - the stdlib fallback reads the same bytes, slower
    from gzip import GzipFile
    from zlib import error as inflate_error

# What inflating bytes that are not (whole) gzip raises: not a gzip header, a truncated
# stream, a corrupt deflate block. Deliberately not OSError at large, which a broken
# network read would also raise.
_UNINFLATABLE = (BadGzipFile, EOFError, inflate_error, zlib.error)

# The dimension-source objects of a run are fetched this many at a time (small
# objects: the time is S3 round trips).
READ_WORKERS = 4
# Dimension sources whose rows may be rejected after reading (an unknown parent, an
# unknown currency code): their quarantine records need the raw lines.
_REJECTED_AFTER_READ = frozenset({"counterparty", "staff", "currency"})
# Fact rows per Parquet row group: parse blocks are small (memory), row groups should
# not be (each repeats dictionaries and metadata, and makes the file bigger to upload).
ROW_GROUP_ROWS = 1 << 17
# What is written at once overshoots ROW_GROUP_ROWS by up to one block: still one group.
_ROW_GROUP_MAX = ROW_GROUP_ROWS * 2


@dataclass
class State:
    """The current state of every dimension-source table, and the snapshot key holding it."""

    tables: dict[str, pa.Table]
    keys: dict[str, str | None]


@dataclass
class RunOutput:
    """What one run produced: the commit record to write, the new state, and counts to report."""

    record: CommitRecord
    state: State
    rows_in: dict[str, int] = field(default_factory=dict)
    rows_out: dict[str, int] = field(default_factory=dict)
    quarantine: QuarantineLog | None = None


def _open_lines(fileobj: IO[bytes] | HashingReader, key: str) -> IO[bytes]:
    return GzipFile(fileobj=fileobj, mode="rb") if key.endswith(".gz") else fileobj  # type: ignore[return-value]


class _StartedEarly(Iterator[Chunk]):
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


def _reject_ids(
    rows: pa.Table, ids: pa.Array, reason: str, source: ObjectRows | None, *, table: str, seq: int, key: str | None
) -> tuple[pa.Table, list[BadRow]]:
    """Remove the rows whose primary key is in ``ids``; describe them for quarantine."""
    if len(ids) == 0:
        return rows, []
    pk = SOURCE_TABLES[table].primary_key
    mask = pc.is_in(rows.column(pk), value_set=ids)
    good, bad_index, reasons = split_rejected(rows, [(mask, reason)])
    bad = bad_rows_from(
        rows,
        bad_index,
        reasons,
        table=table,
        run_seq=seq,
        source_key=key,
        primary_key=pk,
        line_no_column=LINE_NO,
        raw_line=source.raw_line if source is not None else (lambda _n: None),
    )
    return good, bad


class RunTransformer:
    """Transforms one run. Use ``transform_run`` rather than this class directly."""

    def __init__(
        self,
        ingest: LakeStore,
        processed: LakeStore,
        manifest: IngestManifest,
        state: State,
        attempt: str,
        workdir: str,
        block_bytes: int,
    ) -> None:
        self.ingest, self.processed = ingest, processed
        self.manifest, self.seq = manifest, manifest.run_seq
        self.state, self.attempt, self.workdir, self.block_bytes = state, attempt, workdir, block_bytes
        self.quarantine = QuarantineLog(run_seq=self.seq)
        self.rows_in: dict[str, int] = {}
        self.outputs: dict[str, pa.Table] = {}
        self.changed: set[str] = set()  # snapshot tables this run changed (get a new snapshot)
        self.fact_files: dict[str, tuple[str, int]] = {}  # fact -> (Parquet file in workdir, rows)
        self.early: dict[str, _StartedEarly] = {}  # fact sources whose reading has started

    # -- reading ---------------------------------------------------------------
    def _chunks(self, table: str) -> Iterator[Chunk]:
        """Stream, inflate, parse and validate the run's object of ``table``, block by block.

        The object is verified against the manifest's sha256 only once it has been
        read to the end, so the caller must keep what it makes of the chunks
        provisional until this generator is exhausted. If the bytes differ, the
        object is quarantined whole and ``ObjectRejectedError`` raised at the end (or
        as soon as the bytes cannot even be inflated): the caller then discards
        everything it built from the object, which was therefore never "read".

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
                yield from iter_chunks(
                    _open_lines(raw, key),
                    SOURCE_TABLES[table],
                    run_seq=self.seq,
                    source_key=key,
                    block_bytes=self.block_bytes,
                )
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
                    reason = f"object cannot be inflated ({type(exc).__name__}: {exc}); object not read"
                    self.quarantine.add([BadRow(table, self.seq, entry.key, None, None, reason, None)])
                    raise ObjectRejectedError(key) from exc
            digest = raw.hexdigest()
        if entry.sha256 is not None and digest != entry.sha256:
            # The object is not what ingestion committed. Reading it would put unverified
            # rows in the warehouse; failing would block every later run forever (the lake
            # is immutable, nothing can repair the object). So: quarantine the object.
            reason = f"object sha256 {digest} differs from the manifest's {entry.sha256}; object not read"
            self.quarantine.add([BadRow(table, self.seq, entry.key, None, None, reason, None)])
            raise ObjectRejectedError(key)

    def _has_object(self, table: str) -> bool:
        entry = self.manifest.tables.get(table)
        return entry is not None and entry.key is not None

    def _read_latest(self, table: str) -> tuple[pa.Table, ObjectRows | None]:
        """The latest version of each row of the run's ``table`` object, and its raw lines if needed.

        Raw lines (the decompressed blocks) are kept only for the tables whose rows can
        still be rejected after reading (``_REJECTED_AFTER_READ``); for the others they,
        and the rows before deduplication, are released here: a big ``transaction``
        object would otherwise hold its text and two copies of its rows through the run.
        """
        empty = concat_rows([], SOURCE_TABLES[table])
        if not self._has_object(table):
            return empty, None
        keep_raw = table in _REJECTED_AFTER_READ
        try:
            # Without raw lines, a chunk is reduced to its rows as it arrives, so the
            # object's text is never held whole.
            chunks = [c if keep_raw else Chunk(c.rows, c.bad, c.first_line, b"") for c in self._chunks(table)]
        except ObjectRejectedError:
            return empty, None
        rows = ObjectRows.from_chunks(chunks, SOURCE_TABLES[table])
        # Each table is read by one thread: these per-table entries are never contended.
        self.rows_in[table] = rows.rows.num_rows + len(rows.bad)
        self.quarantine.add(rows.bad)
        latest = latest_per_key(rows.rows, SOURCE_TABLES[table].primary_key)
        return latest, rows if keep_raw else None

    # -- dimensions ------------------------------------------------------------
    def _upsert(self, table: str, changes: pa.Table) -> pa.Table:
        """Apply this run's surviving changes of ``table`` to its state; return the changed ids."""
        pk = SOURCE_TABLES[table].primary_key
        if changes.num_rows:
            self.state.tables[table] = apply_changes(self.state.tables[table], changes, pk)
            self.changed.add(table)
        return changes.column(pk).combine_chunks()

    def dimensions(self) -> None:
        """Apply the run's dimension-source rows to the state and build every dimension but dim_date."""
        # Independent objects, each mostly waiting on S3 or in Arrow: fetch them together.
        with ThreadPoolExecutor(max_workers=READ_WORKERS, thread_name_prefix="dim-read") as pool:
            read = dict(zip(SNAPSHOT_TABLES, pool.map(self._read_latest, SNAPSHOT_TABLES), strict=True))
        latest = {t: read[t][0] for t in SNAPSHOT_TABLES}
        key = {t: self.manifest.tables[t].key if t in self.manifest.tables else None for t in SNAPSHOT_TABLES}

        changed_address = self._upsert("address", latest["address"])
        changed_department = self._upsert("department", latest["department"])
        self.outputs["dim_location"] = dims.build_dim_location(latest["address"])

        # Children that join a parent: a change whose parent is unknown is quarantined
        # (and kept out of the state); a parent change re-emits every child using it.
        for child, parent, fk, build, reason in (
            (
                "counterparty",
                "address",
                "legal_address_id",
                dims.build_dim_counterparty,
                "foreign key matches nothing: legal_address_id -> address",
            ),
            (
                "staff",
                "department",
                "department_id",
                dims.build_dim_staff,
                "foreign key matches nothing: department_id -> department",
            ),
        ):
            pk = SOURCE_TABLES[child].primary_key
            parent_state = self.state.tables[parent]
            unmatched = pc.invert(
                pc.is_in(latest[child].column(fk), value_set=parent_state.column(SOURCE_TABLES[parent].primary_key))
            )
            bad_ids = latest[child].column(pk).filter(unmatched).combine_chunks()
            good, bad = _reject_ids(
                latest[child], bad_ids, reason, read[child][1], table=child, seq=self.seq, key=key[child]
            )
            self.quarantine.add(bad)
            changed_ids = self._upsert(child, good)
            changed_parents = changed_address if parent == "address" else changed_department
            emit = dims.affected(self.state.tables[child], changed_ids, pk, fk, changed_parents)
            dim_name = f"dim_{child}"
            self.outputs[dim_name], _ = build(emit, parent_state)

        currency, unknown = dims.build_dim_currency(latest["currency"])
        good, bad = _reject_ids(
            latest["currency"],
            unknown,
            "unknown ISO 4217 currency code",
            read["currency"][1],
            table="currency",
            seq=self.seq,
            key=key["currency"],
        )
        self.quarantine.add(bad)
        self._upsert("currency", good)
        self.outputs["dim_currency"] = currency

        for table, build_simple in (
            ("design", dims.build_dim_design),
            ("payment_type", dims.build_dim_payment_type),
            ("transaction", dims.build_dim_transaction),
        ):
            self._upsert(table, latest[table])
            self.outputs[f"dim_{table}"] = build_simple(latest[table])

    # -- facts -----------------------------------------------------------------
    def start_first_fact(self) -> None:
        """Start reading the first fact source with an object (see ``_StartedEarly``)."""
        for source in FACT_SOURCES:
            if self._has_object(source):
                self.early[source] = _StartedEarly(self._chunks(source))
                return

    def close(self) -> None:
        """Release whatever was started early and never consumed (the run failed)."""
        for early in self.early.values():
            early.close()
        self.early.clear()

    def facts(self) -> pa.Array:
        """Stream every fact source; write each fact's Parquet; return the dates referenced."""
        known_ids: Mapping[str, pa.Array] = {
            t: self.state.tables[t].column(SOURCE_TABLES[t].primary_key).combine_chunks() for t in SNAPSHOT_TABLES
        }
        dates: list[pa.Array] = []
        for source, fact_name in FACT_SOURCES.items():
            if not self._has_object(source):
                continue
            path = os.path.join(self.workdir, f"{fact_name}.parquet")
            try:
                written, rows_in, bad, fact_dates = self._write_fact(source, fact_name, path, known_ids)
            except ObjectRejectedError:
                continue  # nothing of an unverified object is kept (the file is left in workdir)
            self.rows_in[source] = rows_in
            self.quarantine.add(bad)
            dates.extend(fact_dates)
            if written:
                self.fact_files[fact_name] = (path, written)
        return pa.concat_arrays(dates) if dates else pa.array([], pa.date32())

    def _write_fact(
        self, source: str, fact_name: str, path: str, known_ids: Mapping[str, pa.Array]
    ) -> tuple[int, int, list[BadRow], list[pa.Array]]:
        """Write ``fact_name``'s Parquet from the run's ``source`` object to ``path``.

        Returns rows written, rows read, the bad rows and the dates referenced: kept
        apart until the object is verified (``_chunks``). The writer gets a path, not a
        Python file object, so Arrow writes without taking the GIL the parse threads need.
        """
        key = self.manifest.tables[source].key or ""
        written = rows_in = 0
        bad: list[BadRow] = []
        dates: list[pa.Array] = []
        pending: list[pa.Table] = []  # fact rows not yet written: one row group at a time
        with pq.ParquetWriter(path, WAREHOUSE_SCHEMAS[fact_name], **PARQUET_OPTIONS) as writer:
            chunks = self.early.pop(source, None) or self._chunks(source)
            for chunk in chunks:
                rows_in += chunk.rows.num_rows + len(chunk.bad)
                bad.extend(chunk.bad)
                good, bad_index, reasons = split_rejected(chunk.rows, foreign_key_checks(chunk.rows, source, known_ids))
                bad.extend(
                    bad_rows_from(
                        chunk.rows,
                        bad_index,
                        reasons,
                        table=source,
                        run_seq=self.seq,
                        source_key=key,
                        primary_key=SOURCE_TABLES[source].primary_key,
                        line_no_column=LINE_NO,
                        raw_line=chunk.raw_line,
                    )
                )
                if good.num_rows:
                    fact = FACT_BUILDERS[source](good)
                    dates.append(referenced_dates(fact, fact_name))
                    written += fact.num_rows
                    pending.append(fact)
                    if sum(t.num_rows for t in pending) >= ROW_GROUP_ROWS:
                        writer.write_table(pa.concat_tables(pending), row_group_size=_ROW_GROUP_MAX)
                        pending.clear()
            if pending:
                writer.write_table(pa.concat_tables(pending), row_group_size=_ROW_GROUP_MAX)
        return written, rows_in, bad, dates

    # -- writing ---------------------------------------------------------------
    def _put_fact(self, key: str, path: str) -> None:
        with open(path, "rb") as body:
            self.processed.put_new(key, body, content_type="application/vnd.apache.parquet")

    def write(self, started: float) -> RunOutput:
        # One object at a time, in load order: the crash-point fault tests (and a human
        # reading a crashed attempt's orphans) rely on "the first k objects were written".
        tables: dict[str, ObjectRef] = {}
        rows_out: dict[str, int] = {}
        for name in WAREHOUSE_TABLE_ORDER:
            key = table_key(name, self.seq, self.attempt)
            if name in self.fact_files:
                path, n = self.fact_files.pop(name)
                self._put_fact(key, path)
            elif name in self.outputs and self.outputs[name].num_rows:
                n = self.outputs[name].num_rows
                write_parquet(self.processed, key, self.outputs[name])
            else:
                n = 0
            tables[name] = ObjectRef(key if n else None, n)
            rows_out[name] = n
        for table in sorted(self.changed):
            key = snapshot_key(table, self.seq, self.attempt)
            write_parquet(self.processed, key, self.state.tables[table])
            self.state.keys[table] = key
        quarantine = write_quarantine(self.processed, self.quarantine, self.attempt)
        record = CommitRecord(
            run_seq=self.seq,
            attempt=self.attempt,
            ingest_manifest=self.manifest.key,
            tables=tables,
            snapshots={t: self.state.keys.get(t) for t in SNAPSHOT_TABLES},
            quarantine=quarantine,
            rows_quarantined=self.quarantine.count(),
            duration_ms=round((time.perf_counter() - started) * 1000),
            committed_at=utc_stamp(datetime.now(UTC)),
        )
        return RunOutput(record, self.state, dict(self.rows_in), rows_out, self.quarantine)


def transform_run(
    ingest: LakeStore,
    processed: LakeStore,
    manifest: IngestManifest,
    state: State,
    attempt: str,
    *,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
) -> RunOutput:
    """Transform one ingestion run and write its Parquet, snapshots and quarantine objects.

    Parameters
    ----------
    ingest, processed : LakeStore
        The two buckets.
    manifest : IngestManifest
        The run's ingestion commit record.
    state : State
        The state the previous transform commit left (not modified; a copy is evolved).
    attempt : str
        This invocation's attempt id, part of every object key written.
    block_bytes : int
        Bytes of JSON lines parsed at once (bounds memory).

    Returns
    -------
    RunOutput
        The commit record to write (the caller writes it, last) and the new state.
    """
    started = time.perf_counter()
    work_state = State(tables=dict(state.tables), keys=dict(state.keys))
    with tempfile.TemporaryDirectory(prefix="transform-") as workdir:
        runner = RunTransformer(ingest, processed, manifest, work_state, attempt, workdir, block_bytes)
        try:
            runner.start_first_fact()
            runner.dimensions()
            dates = runner.facts()
        finally:
            runner.close()
        runner.outputs["dim_date"] = build_dim_date(dates)
        return runner.write(started)
