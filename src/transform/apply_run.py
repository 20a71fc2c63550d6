"""Transform one committed ingestion run into Parquet, given the state the previous run left.

Order inside a run (docs/transform.md): dimension sources parents first (address,
department, then counterparty and staff that join them, then currency, design,
payment_type, transaction), so every join and foreign-key check sees this run's
rows; then the three facts, streamed block by block; then dim_date from the dates
the facts referenced. Nothing is committed here: the caller writes the commit record
last, so a crash anywhere leaves only orphans.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from common.s3_store import LakeStore
from common.source_tables import SOURCE_TABLES
from transform import dimensions as dims
from transform.dim_date import build_dim_date
from transform.facts import FACT_BUILDERS, foreign_key_checks, referenced_dates
from transform.ingest_objects import Manifest, download_object
from transform.quarantine import BadRow, QuarantineLog, bad_rows_from, split_rejected, write_quarantine
from transform.reader import DEFAULT_BLOCK_BYTES, ObjectRows, concat_rows, iter_chunks, read_object_rows
from transform.schemas import FACT_SOURCES, LINE_NO, SNAPSHOT_TABLES, WAREHOUSE_SCHEMAS, WAREHOUSE_TABLE_ORDER
from transform.snapshot import apply_changes, latest_per_key, snapshot_key, write_parquet

try:  # ISA-L inflates the same gzip format ~3x faster than zlib: a third of a big run's CPU
    from isal.igzip import GzipFile
except ImportError:  # pragma: no cover - the stdlib fallback reads the same bytes, slower
    from gzip import GzipFile

TABLES_PREFIX = "tables/"


def table_key(table: str, seq: int, attempt: str) -> str:
    """Where run ``seq`` writes the rows it contributes to warehouse table ``table``."""
    return f"{TABLES_PREFIX}{table}/{seq:010d}-{attempt}.parquet"


@dataclass
class State:
    """The current state of every dimension-source table, and the snapshot key holding it."""

    tables: dict[str, pa.Table]
    keys: dict[str, str | None]


@dataclass
class RunOutput:
    """What one run produced: the commit record to write, the new state, and counts to report."""

    record: dict[str, Any]
    state: State
    rows_in: dict[str, int] = field(default_factory=dict)
    rows_out: dict[str, int] = field(default_factory=dict)
    quarantine: QuarantineLog | None = None


def _open_lines(fileobj: IO[bytes], key: str) -> IO[bytes]:
    return GzipFile(fileobj=fileobj, mode="rb") if key.endswith(".gz") else fileobj


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
        manifest: Manifest,
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
        self.fact_files: dict[str, tuple[IO[bytes], int]] = {}  # fact -> (Parquet temp file, rows)

    # -- reading ---------------------------------------------------------------
    def _fetch(self, table: str) -> IO[bytes] | None:
        """Download the run's object of ``table`` to a temp file; None if none or rejected."""
        entry = self.manifest.tables.get(table)
        if entry is None or entry.key is None:
            return None
        tmp = tempfile.TemporaryFile(dir=self.workdir)  # noqa: SIM115 - closed by the caller
        digest = download_object(self.ingest, entry.key, tmp)
        if entry.sha256 is not None and digest != entry.sha256:
            tmp.close()
            # The object is not what ingestion committed. Reading it would put unverified
            # rows in the warehouse; failing would block every later run forever (the lake
            # is immutable, nothing can repair the object). So: quarantine the object.
            reason = f"object sha256 {digest} differs from the manifest's {entry.sha256}; object not read"
            self.quarantine.add([BadRow(table, self.seq, entry.key, None, None, reason, None)])
            return None
        return tmp

    def _read_small(self, table: str) -> tuple[pa.Table, ObjectRows | None]:
        tmp = self._fetch(table)
        if tmp is None:
            return concat_rows([], SOURCE_TABLES[table]), None
        with tmp:
            key = self.manifest.tables[table].key
            rows = read_object_rows(
                _open_lines(tmp, key or ""),
                SOURCE_TABLES[table],
                run_seq=self.seq,
                source_key=key,
                block_bytes=self.block_bytes,
            )
        self.rows_in[table] = rows.rows.num_rows + len(rows.bad)
        self.quarantine.add(rows.bad)
        return rows.rows, rows

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
        read = {t: self._read_small(t) for t in SNAPSHOT_TABLES}
        latest = {t: latest_per_key(read[t][0], SOURCE_TABLES[t].primary_key) for t in SNAPSHOT_TABLES}
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
    def facts(self) -> pa.Array:
        """Stream every fact source; write each fact's Parquet; return the dates referenced."""
        known_ids: Mapping[str, pa.Array] = {
            t: self.state.tables[t].column(SOURCE_TABLES[t].primary_key).combine_chunks() for t in SNAPSHOT_TABLES
        }
        dates: list[pa.Array] = []
        for source, fact_name in FACT_SOURCES.items():
            tmp = self._fetch(source)
            if tmp is None:
                continue
            key = self.manifest.tables[source].key or ""
            out = tempfile.TemporaryFile(dir=self.workdir)  # noqa: SIM115 - closed after upload
            written = rows_in = 0
            with tmp, pq.ParquetWriter(out, WAREHOUSE_SCHEMAS[fact_name], compression="snappy") as writer:
                for chunk in iter_chunks(
                    _open_lines(tmp, key),
                    SOURCE_TABLES[source],
                    run_seq=self.seq,
                    source_key=key,
                    block_bytes=self.block_bytes,
                ):
                    rows_in += chunk.rows.num_rows + len(chunk.bad)
                    self.quarantine.add(chunk.bad)
                    good, bad_index, reasons = split_rejected(
                        chunk.rows, foreign_key_checks(chunk.rows, source, known_ids)
                    )
                    self.quarantine.add(
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
                        writer.write_table(fact)
                        dates.append(referenced_dates(fact, fact_name))
                        written += fact.num_rows
            self.rows_in[source] = rows_in
            if written:
                self.fact_files[fact_name] = (out, written)
            else:
                out.close()
        return pa.concat_arrays(dates) if dates else pa.array([], pa.date32())

    # -- writing ---------------------------------------------------------------
    def write(self, started: float) -> RunOutput:
        tables: dict[str, dict[str, Any]] = {}
        rows_out: dict[str, int] = {}
        for name in WAREHOUSE_TABLE_ORDER:
            key = table_key(name, self.seq, self.attempt)
            if name in self.fact_files:
                out, n = self.fact_files.pop(name)
                with out:
                    out.seek(0)
                    self.processed.put_new(key, out, content_type="application/vnd.apache.parquet")
            elif name in self.outputs and self.outputs[name].num_rows:
                n = self.outputs[name].num_rows
                write_parquet(self.processed, key, self.outputs[name])
            else:
                key, n = None, 0
            tables[name] = {"key": key, "rows": n}
            rows_out[name] = n
        for table in sorted(self.changed):
            key = snapshot_key(table, self.seq, self.attempt)
            write_parquet(self.processed, key, self.state.tables[table])
            self.state.keys[table] = key
        quarantine = write_quarantine(self.processed, self.quarantine, self.attempt)
        record = {
            "format": 1,
            "run_seq": self.seq,
            "attempt": self.attempt,
            "ingest_manifest": self.manifest.key,
            "tables": tables,
            "snapshots": {t: self.state.keys.get(t) for t in SNAPSHOT_TABLES},
            "quarantine": quarantine,
            "rows_quarantined": self.quarantine.count(),
            "duration_ms": round((time.perf_counter() - started) * 1000),
            "committed_at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        }
        return RunOutput(record, self.state, dict(self.rows_in), rows_out, self.quarantine)


def transform_run(
    ingest: LakeStore,
    processed: LakeStore,
    manifest: Manifest,
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
    manifest : Manifest
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
        runner.dimensions()
        dates = runner.facts()
        runner.outputs["dim_date"] = build_dim_date(dates)
        return runner.write(started)
