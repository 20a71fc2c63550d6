"""The load ledger (``pipeline.load_ledger``): which processed runs are in the warehouse.

A ledger row is written in the same transaction as the run's data, so the ledger is
exactly the set of runs whose rows are visible. Its primary key on ``run_seq`` is
also a backstop: two loaders that somehow bypassed the advisory lock cannot both
commit the same run.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import pg8000.native


@dataclass(frozen=True)
class LedgerEntry:
    """One loaded run, as recorded in the ledger."""

    run_seq: int
    attempt: str
    commit_key: str
    load_attempt: str
    previous_run_seq: int
    rows_per_table: dict[str, dict[str, int]]
    max_source_last_updated: dt.datetime | None
    inferred_members: int
    rows_quarantined: int
    duration_ms: int


def last_loaded_seq(con: pg8000.native.Connection) -> int:
    """The highest run sequence id in the ledger (0 when nothing was loaded yet)."""
    return int(con.run("SELECT coalesce(max(run_seq), 0) FROM pipeline.load_ledger")[0][0])


def record_run(con: pg8000.native.Connection, entry: LedgerEntry) -> None:
    """Insert the ledger row of a run; call inside the run's transaction, last before COMMIT."""
    con.run(
        "INSERT INTO pipeline.load_ledger (run_seq, attempt, commit_key, load_attempt, previous_run_seq,"
        " rows_per_table, max_source_last_updated, inferred_members, rows_quarantined, duration_ms) "
        "VALUES (:run_seq, :attempt, :commit_key, :load_attempt, :previous, CAST(:rows AS jsonb), :max_lu,"
        " :inferred, :quarantined, :duration_ms)",
        run_seq=entry.run_seq,
        attempt=entry.attempt,
        commit_key=entry.commit_key,
        load_attempt=entry.load_attempt,
        previous=entry.previous_run_seq,
        rows=json.dumps(entry.rows_per_table, sort_keys=True),
        max_lu=entry.max_source_last_updated,
        inferred=entry.inferred_members,
        quarantined=entry.rows_quarantined,
        duration_ms=entry.duration_ms,
    )
