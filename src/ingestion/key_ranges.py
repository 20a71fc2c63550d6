"""A first snapshot in key ranges: a big table's first extraction spread over several runs.

One run carries at most ``SNAPSHOT_ROWS_PER_RUN`` rows of first snapshots (docs/architecture.md,
"Limits of one invocation"), so a source too big for one invocation of any stage is taken
as the next N primary keys per run, each run committed like any other, and transform and
load get bounded runs too. How it holds the pipeline's guarantees:

* **One bound for the whole snapshot.** Every range reads ``last_updated < bound``, the start
  of the run that began the snapshot (``lake.manifest.SnapshotCursor.bound``), whatever run
  reads it. A row changed or inserted after that (in a range already taken or not) has a
  later ``last_updated`` and is left to the incremental path: the table's watermark becomes
  ``bound`` only when its last range is taken, so the first incremental run reads
  ``[bound - lookback, ...)``, and the ranges' rows within the look-back part are in the
  recent-keys set (carried from range to range), so nothing is emitted twice.
* **A run is the unit of work.** The cursor (the next range's first key) is in the manifest,
  committed atomically with the range's rows; SSM mirrors it after the commit. A crash
  before the manifest leaves orphans only, and the next run takes the same range again.
* **Parents before children.** Tables are walked in ``TABLE_ORDER``; a table's snapshot
  starts only when every table before it has its watermark, so transform never meets a
  child (a payment) whose parent (its transaction) is in a later range.
* **A partial snapshot is never a deletion.** The comparison leaves a table alone until
  its snapshot is complete (``ingestion.run.run_compare``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pg8000.native import identifier

if TYPE_CHECKING:
    import pg8000.native

    from common.source_tables import SourceTable


@dataclass(frozen=True)
class KeyRange:
    """Primary keys ``[from_id, to_id)`` of one run's part of a snapshot; ``to_id`` None: to the end."""

    from_id: int
    to_id: int | None


def first_key(con: pg8000.native.Connection, table: SourceTable) -> int:
    """Where a new snapshot of ``table`` starts: its smallest primary key (0 for an empty table)."""
    t, pk = identifier(table.name), identifier(table.primary_key)
    # Allow-listed identifiers only (quoted by identifier()); no values.
    rows = con.run(f"SELECT min({pk}) FROM {t}")  # noqa: S608  # nosec B608
    return int(rows[0][0]) if rows[0][0] is not None else 0


def next_range(con: pg8000.native.Connection, table: SourceTable, from_id: int, max_keys: int | None) -> KeyRange:
    """The next ``max_keys`` primary keys of ``table`` from ``from_id`` (None: all the rest).

    The range ends before the first key beyond them (an index-only walk of the primary
    key), so it holds at most ``max_keys`` rows; rows stamped after the snapshot's bound
    are filtered out when it is read, so it may hold fewer.
    """
    if max_keys is None:
        return KeyRange(from_id, None)
    t, pk = identifier(table.name), identifier(table.primary_key)
    sql = f"SELECT {pk} FROM {t} WHERE {pk} >= :from_id ORDER BY {pk} OFFSET :n LIMIT 1"  # noqa: S608  # nosec B608
    rows = con.run(sql, from_id=from_id, n=max_keys)
    return KeyRange(from_id, int(rows[0][0]) if rows else None)
