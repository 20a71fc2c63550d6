"""``run_load``: load every pending processed run into the warehouse, in order, one transaction each.

Pending = commit records in the processed bucket with ``run_seq`` above the ledger's
maximum. The event that woke us is never consulted: a duplicate event finds nothing
pending, an out-of-order one catches up on its predecessors first, and a lost one
is healed by the next event or the scheduled sweep. Design: docs/load.md.
"""

from __future__ import annotations

import datetime as dt
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pg8000.exceptions
import pg8000.native
from botocore.exceptions import ClientError

from common.observability import MetricUnit, get_logger
from common.s3_store import LakeStore
from common.warehouse_tables import TABLES, Kind
from lake.commit_record import CommitRecord, TableObject, read_commit_record
from lake.errors import CommitRecordError
from lake.keys import FX_RATES, committed_runs, new_attempt_id
from load import direct, fact_load, refused, upsert
from load.deletions import load_deletions
from load.errors import WarehouseLoadError, is_data_exception, refusal_reason
from load.fact_load import DirectFact, FactStrategy, StagedFact
from load.fx_load import load_fx_rates
from load.ledger import LedgerEntry, last_loaded_seq, record_run
from load.lock import load_lock
from load.staging import DEFAULT_BATCH_ROWS, StagedTable

logger = get_logger("load")

# Do not start another run with less Lambda time than this left: a run cut off by the
# timeout rolls back harmlessly, but it is wasted work and a false alarm.
MIN_TIME_FOR_A_RUN_MS = 60_000

_DB_ERRORS = (pg8000.exceptions.Error, OSError)


@dataclass
class LoadHooks:
    """Test seams between the steps of a run's transaction (each gets the run_seq).

    A hook that raises, or that kills the connection, must leave nothing behind.
    """

    after_staging: Callable[[int], None] | None = None
    before_commit: Callable[[int], None] | None = None


@dataclass(frozen=True)
class RunLoad:
    """What loading one processed run did."""

    run_seq: int
    staged: dict[str, int]  # rows copied into staging per table
    loaded: dict[str, int]  # rows inserted or changed per table
    inferred_members: int
    rows_quarantined: int
    dates_generated: int
    max_source_last_updated: dt.datetime | None
    duration_ms: int
    deletion_versions: dict[str, int] = field(default_factory=dict)  # per fact (load.deletions)

    @property
    def rows_loaded(self) -> int:
        return sum(self.loaded.values())


@dataclass(frozen=True)
class LoadResult:
    """What one ``run_load`` call did."""

    lock_acquired: bool
    last_loaded_seq: int
    runs: tuple[RunLoad, ...] = ()
    gaps: tuple[int, ...] = ()  # processed run ids that do not exist and were stepped over
    stopped_for_time: bool = False
    load_attempt: str = field(default="")

    @property
    def runs_committed(self) -> int:
        return len(self.runs)

    def summary(self) -> dict[str, Any]:
        """A small JSON-able summary (the handler's return value)."""
        return {
            "lock_acquired": self.lock_acquired,
            "runs_committed": self.runs_committed,
            "run_seqs": [r.run_seq for r in self.runs],
            "last_loaded_seq": self.last_loaded_seq,
            "rows_loaded": sum(r.rows_loaded for r in self.runs),
            "inferred_members": sum(r.inferred_members for r in self.runs),
            "rows_quarantined": sum(r.rows_quarantined for r in self.runs),
            "gaps": list(self.gaps),
            "stopped_for_time": self.stopped_for_time,
        }


def run_load(
    processed: LakeStore,
    con: pg8000.native.Connection,
    *,
    metrics: Any | None = None,
    hooks: LoadHooks | None = None,
    lock_wait_seconds: float = 60.0,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    time_left_ms: Callable[[], int] | None = None,
) -> LoadResult:
    """Load every pending processed run, in run order, each in one transaction; say which were committed.

    Parameters
    ----------
    processed
        The processed bucket.
    con
        A pg8000 connection to the warehouse as the loader role, not in a transaction.
    metrics
        Powertools ``Metrics`` to add to (the handler flushes it); None to skip metrics.
    hooks
        Test seams inside each run's transaction.
    lock_wait_seconds
        How long to wait for a concurrent loader before leaving the work to it.
    batch_rows
        Rows per Parquet record batch, i.e. per COPY message.
    time_left_ms
        The Lambda context's ``get_remaining_time_in_millis``; no new run is started
        with less than a minute left.

    The analytics summaries are not folded here: ``load.summaries.fold_pending`` folds the
    committed runs afterwards, in an invocation of its own (docs/dashboard.md, "Upkeep").

    Raises
    ------
    WarehouseLoadError
        The database failed or went away; the current run was rolled back, the runs
        before it stay committed, and a retry resumes at the rolled-back run.
    CommitRecordError, ParquetSchemaError
        A processed run cannot be read as the contract says; it was rolled back.
    """
    hooks = hooks or LoadHooks()
    attempt = new_attempt_id()
    logger.append_keys(load_attempt=attempt)
    try:
        _disable_nagle(con)
        _size_temp_buffers(con)
        with load_lock(con, lock_wait_seconds) as acquired:
            if not acquired:
                # A loading holder re-lists pending runs; a folding one does not, but the next cycle's load will.
                logger.warning("another loader or the summaries' fold holds the load lock; leaving pending runs")
                return LoadResult(False, last_loaded_seq(con), load_attempt=attempt)
            return _catch_up(processed, con, metrics, hooks, batch_rows, time_left_ms, attempt)
    except _DB_ERRORS as exc:
        # Lock and ledger statements outside a run's transaction: nothing to roll back.
        raise WarehouseLoadError(f"warehouse unavailable: {exc}") from exc
    finally:
        _add_metric(metrics, "RunsCommitted", MetricUnit.Count, 0)  # the freshness alarm needs a datapoint
        logger.remove_keys(["load_attempt", "run_seq"])


# Staging tables are temporary, so they live in the session's temp_buffers (8MB by default):
# a million-row COPY would otherwise spill through the local buffer manager to disk.
TEMP_BUFFERS = "256MB"


def _size_temp_buffers(con: pg8000.native.Connection) -> None:
    """Raise temp_buffers for this session, once, before its first temporary table.

    PostgreSQL refuses a change after the session has used a temporary table, so a
    session that already has another value (a reused connection) keeps it.
    """
    current = con.run("SELECT current_setting('temp_buffers')")[0][0]
    if current != TEMP_BUFFERS:
        try:
            con.run("SELECT set_config('temp_buffers', :v, false)", v=TEMP_BUFFERS)
        except pg8000.exceptions.DatabaseError as exc:  # the session has used temp tables: keep its value
            logger.info("temp_buffers left unchanged", extra={"error": repr(exc)})


def _disable_nagle(con: pg8000.native.Connection) -> None:
    """Send small messages at once on this connection (TCP_NODELAY), as libpq always does.

    pg8000 leaves Nagle's algorithm on. Every COPY ends with a small CopyDone + Sync
    write after the data, which then waits for the server's delayed ACK, once per staged
    table and per streamed chunk (how long: docs/benchmarks.md). pg8000 has no public
    option for it, hence its socket attribute; a connection without one (a Unix socket,
    a future pg8000) is left as it is.
    """
    sock = getattr(con, "_usock", None)
    if not isinstance(sock, socket.socket) or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError as exc:  # an optimisation only
        logger.info("TCP_NODELAY not set", extra={"error": repr(exc)})


def _catch_up(
    processed: LakeStore,
    con: pg8000.native.Connection,
    metrics: Any | None,
    hooks: LoadHooks,
    batch_rows: int,
    time_left_ms: Callable[[], int] | None,
    attempt: str,
) -> LoadResult:
    last = last_loaded_seq(con)
    runs: list[RunLoad] = []
    gaps: list[int] = []
    while True:
        # Re-list after each pass: runs committed while we worked are ours too, since a
        # waiter that timed out on the lock left them to us.
        pending = list(committed_runs(processed, after=last))
        if not pending:
            return LoadResult(True, last, tuple(runs), tuple(gaps), load_attempt=attempt)
        for seq in pending:
            if time_left_ms is not None and time_left_ms() < MIN_TIME_FOR_A_RUN_MS:
                logger.warning("stopping before run %s: Lambda time is nearly up", seq, extra={"run_seq": seq})
                return LoadResult(True, last, tuple(runs), tuple(gaps), stopped_for_time=True, load_attempt=attempt)
            if seq != last + 1:
                # Transform writes commit records strictly in order, so a missing id will
                # never appear later: waiting for it would stop the warehouse forever.
                missing = list(range(last + 1, seq))
                gaps.extend(missing)
                logger.warning(
                    "processed run ids missing; loading the next run after the gap",
                    extra={"run_seq": seq, "missing_run_seqs": missing, "previous_run_seq": last},
                )
                _add_metric(metrics, "SequenceGaps", MetricUnit.Count, len(missing))
            record = read_commit_record(processed, seq)
            result = _load_run(processed, con, record, last, hooks, batch_rows, attempt)
            runs.append(result)
            _emit_run_metrics(metrics, result)
            last = seq


def _load_run(
    processed: LakeStore,
    con: pg8000.native.Connection,
    record: CommitRecord,
    previous: int,
    hooks: LoadHooks,
    batch_rows: int,
    attempt: str,
) -> RunLoad:
    """Load one run in one transaction: all of it is visible after COMMIT, or none of it."""
    logger.append_keys(run_seq=record.run_seq)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"load-{record.run_seq}-") as tmp:
        # Download before BEGIN: S3 trouble never holds a transaction open, and the
        # transaction is as short as COPY allows.
        files = {obj.table: _download(processed, obj, Path(tmp)) for obj in record.objects}
        fx = record.fx_rates
        fx_file = _download(processed, TableObject(FX_RATES, fx.key, fx.rows), Path(tmp)) if fx and fx.key else None
        run = _RunContext(previous, attempt, started, fx_file)
        try:
            result = _in_transaction(con, record.run_seq, lambda: _apply(con, record, files, hooks, batch_rows, run))
        except pg8000.exceptions.DatabaseError as exc:  # only a data exception gets here
            # The data, not the database: a retry would fail the same way forever.
            logger.warning(
                "the warehouse refused the run's data; loading it table by table to quarantine the rows it refuses",
                extra={"run_seq": record.run_seq, "error": refusal_reason(exc)},
            )
            try:
                result = _in_transaction(
                    con, record.run_seq, lambda: _apply_isolating(con, record, files, hooks, batch_rows, run)
                )
            except pg8000.exceptions.DatabaseError as again:
                raise WarehouseLoadError(f"run {record.run_seq} refused outside any one row: {again}") from again
    logger.info(
        "run loaded",
        extra={
            "run_seq": record.run_seq,
            "rows": result.loaded,
            "staged": result.staged,
            "inferred_members": result.inferred_members,
            "rows_quarantined": result.rows_quarantined,
            "duration_ms": result.duration_ms,
        },
    )
    return result


def _in_transaction(con: pg8000.native.Connection, seq: int, work: Callable[[], RunLoad]) -> RunLoad:
    """Run ``work`` in one transaction and commit it; on any exception roll back and re-raise.

    Database errors other than data exceptions become ``WarehouseLoadError`` (retriable);
    a data exception is re-raised as it is, for the caller to quarantine its rows.
    """
    con.run("BEGIN")
    try:
        result = work()
        con.run("COMMIT")
    except BaseException as exc:
        _rollback(con, seq)
        if isinstance(exc, _DB_ERRORS) and not is_data_exception(exc):
            raise WarehouseLoadError(f"run {seq} rolled back: {exc}") from exc
        raise
    return result


def _download(processed: LakeStore, obj: TableObject, folder: Path) -> Path:
    path = folder / f"{obj.table}.parquet"
    try:
        with path.open("wb") as f:
            processed.download_to(obj.key, f)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
            raise CommitRecordError(f"{obj.key} named by the commit record does not exist") from exc
        raise
    return path


@dataclass(frozen=True)
class _RunContext:
    """What the ledger row of a run needs besides its counts."""

    previous: int  # the run loaded before it (a gap makes it less than run_seq - 1)
    attempt: str  # this invocation's load attempt id
    started: float  # perf_counter() at the start of the run
    fx_rates: Path | None = None  # an exchange-rate run's Parquet (load.fx_load)


def _apply(
    con: pg8000.native.Connection,
    record: CommitRecord,
    files: dict[str, Path],
    hooks: LoadHooks,
    batch_rows: int,
    run: _RunContext,
) -> RunLoad:
    """One run inside its transaction: staging, then dimensions -> dates -> facts -> ledger."""
    seq = record.run_seq
    staged, facts = _stage(con, record, files, batch_rows)
    if hooks.after_staging:
        hooks.after_staging(seq)
    dims = {name: st for name, st in staged.items() if st.table.kind is not Kind.FACT}
    # A staged fact's NULL rows are quarantined at its turn (``StagedFact.load``).
    quarantined = sum(fact_load.quarantine_nulls(con, st, seq) for st in dims.values())
    loaded = _upsert_dimensions(con, dims, seq)
    # Every date any staged fact references, generated in one statement before the first fact.
    staged_facts = [st for st in staged.values() if st.table.kind is Kind.FACT]
    dates_generated = upsert.ensure_dates(con, (d for st in staged_facts for d in st.dates()))  # type: ignore[misc]
    done = [fact.load(con, seq) for fact in facts]
    return _record(
        con,
        record,
        run,
        hooks,
        staged={**{n: st.rows for n, st in dims.items()}, **{f.table: f.staged for f in done}},
        loaded={**loaded, **{f.table: f.inserted for f in done}},
        inferred=sum(len(f.inferred) for f in done),
        quarantined=quarantined + sum(f.quarantined for f in done),
        dates_generated=dates_generated + sum(f.dates_generated for f in done),
        max_lu=max((f.max_last_updated for f in done if f.max_last_updated), default=None),
    )


def _stage(
    con: pg8000.native.Connection, record: CommitRecord, files: dict[str, Path], batch_rows: int
) -> tuple[dict[str, StagedTable], list[FactStrategy]]:
    """COPY the run's tables into staging (dimensions, and facts too small for the direct path).

    Returns the staged tables and each fact's strategy: the staged facts first, then the
    bulk-sized ones COPYed straight into the fact.
    """
    staged: dict[str, StagedTable] = {}
    direct_facts: list[FactStrategy] = []
    for obj in record.objects:  # LOAD_ORDER: dimensions first
        if direct.wanted(con, TABLES[obj.table], obj.rows):
            direct_facts.append(DirectFact(obj, files[obj.table], batch_rows))
            continue
        staged[obj.table] = fact_load.stage(con, obj, files[obj.table], batch_rows)
    facts: list[FactStrategy] = [StagedFact(st) for st in staged.values() if st.table.kind is Kind.FACT]
    return staged, [*facts, *direct_facts]


def _upsert_dimensions(con: pg8000.native.Connection, dims: dict[str, StagedTable], seq: int) -> dict[str, int]:
    """Type-1 upsert of every staged dimension (dim_date: insert the missing); rows changed per table."""
    loaded: dict[str, int] = {}
    for name, st in dims.items():
        loaded[name], completed = upsert.upsert_dimension(con, st, seq)
        if completed:
            logger.info("inferred members completed by their real rows", extra={"table": name, "rows": completed})
    return loaded


def _apply_isolating(
    con: pg8000.native.Connection,
    record: CommitRecord,
    files: dict[str, Path],
    hooks: LoadHooks,
    batch_rows: int,
    run: _RunContext,
) -> RunLoad:
    """``_apply`` for a run the warehouse refused data of: ``load.refused`` quarantines those rows."""
    done = refused.load_isolating_refused_rows(con, record, files, batch_rows)
    for table in {m.referenced_by for m in done.inferred}:
        fact_load.log_inferred(table, [m for m in done.inferred if m.referenced_by == table])
    return _record(
        con,
        record,
        run,
        hooks,
        staged=done.staged,
        loaded=done.loaded,
        inferred=len(done.inferred),
        quarantined=done.rows_quarantined,
        dates_generated=done.dates_generated,
        max_lu=done.max_source_last_updated,
    )


def _record(
    con: pg8000.native.Connection,
    record: CommitRecord,
    run: _RunContext,
    hooks: LoadHooks,
    *,
    staged: dict[str, int],
    loaded: dict[str, int],
    inferred: int,
    quarantined: int,
    dates_generated: int,
    max_lu: dt.datetime | None,
) -> RunLoad:
    """Exchange rates and deletion versions, then the run's ledger row (last, inside its transaction).

    An exchange-rate run's rates are upserted here: both passes (``_apply`` and
    ``_apply_isolating``) end here, and the rates never touch the star tables.
    """
    if run.fx_rates is not None:
        staged[FX_RATES], loaded[FX_RATES] = load_fx_rates(con, run.fx_rates, record.run_seq)
    deleted = load_deletions(con, record.deletions) if record.deletions else {}
    duration_ms = int((time.perf_counter() - run.started) * 1000)
    result = RunLoad(
        run_seq=record.run_seq,
        staged=staged,
        loaded=loaded,
        inferred_members=inferred,
        rows_quarantined=quarantined,
        dates_generated=dates_generated,
        max_source_last_updated=max_lu,
        duration_ms=duration_ms,
        deletion_versions=deleted,
    )
    record_run(
        con,
        LedgerEntry(
            run_seq=record.run_seq,
            attempt=record.attempt,
            commit_key=record.key,
            load_attempt=run.attempt,
            previous_run_seq=run.previous,
            rows_per_table=_rows_per_table(staged, loaded, deleted),
            max_source_last_updated=max_lu,
            inferred_members=inferred,
            rows_quarantined=quarantined,
            duration_ms=duration_ms,
        ),
    )
    if hooks.before_commit:
        hooks.before_commit(record.run_seq)
    return result


def _rows_per_table(
    staged: dict[str, int], loaded: dict[str, int], deleted: dict[str, int]
) -> dict[str, dict[str, int]]:
    rows = {n: {"staged": count, "loaded": loaded.get(n, 0)} for n, count in staged.items()}
    for name, count in deleted.items():
        rows.setdefault(name, {"staged": 0, "loaded": 0})["deletion_versions"] = count
    return rows


def _rollback(con: pg8000.native.Connection, seq: int) -> None:
    """Roll back the run's transaction; if the connection is gone the server already has."""
    try:
        con.run("ROLLBACK")
    except _DB_ERRORS as exc:
        logger.warning(
            "rollback failed; the server rolls back a transaction whose connection is gone",
            extra={"run_seq": seq, "error": repr(exc)},
        )


def _add_metric(metrics: Any | None, name: str, unit: MetricUnit, value: float) -> None:
    if metrics is not None:
        metrics.add_metric(name=name, unit=unit, value=value)


def _emit_run_metrics(metrics: Any | None, run: RunLoad) -> None:
    _add_metric(metrics, "RunsCommitted", MetricUnit.Count, 1)
    _add_metric(metrics, "RowsLoaded", MetricUnit.Count, run.rows_loaded)
    _add_metric(metrics, "InferredMembers", MetricUnit.Count, run.inferred_members)
    if run.rows_quarantined:
        _add_metric(metrics, "RowsQuarantined", MetricUnit.Count, run.rows_quarantined)
    if run.max_source_last_updated is not None:
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)  # source timestamps are naive UTC
        lag = (now - run.max_source_last_updated).total_seconds()
        _add_metric(metrics, "ChangeToLoadLagSeconds", MetricUnit.Seconds, max(lag, 0.0))
