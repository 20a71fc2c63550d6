"""Source rows stamped in the future: counted and named, never silently left behind.

A window ends at the run's start (``last_updated < run_start``), so a row whose
``last_updated`` lies ahead of it is left to a later run. Seconds or minutes ahead is
clock skew between the application and us and heals by itself; a row stamped
``2099-01-01`` would wait for 2099 with nobody told. So after a table's window is
extracted, in the same snapshot, one query counts the rows stamped beyond
``run_start + FUTURE_TOLERANCE_SECONDS`` and names the first few: one index range scan
on ``last_updated`` (each table has that index) that reads only the future rows, so
the usual cost is one index probe per table, not a pass over the rows.

The rows are still ingested when their time comes; why we surface them rather than
clamp their timestamps is in docs/ingestion.md ("Rows stamped in the future").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pg8000.native
from pg8000.native import identifier

from common.source_tables import SourceTable

# Keys named per table (in the manifest, the WARNING and `totes status`); the count is exact.
MAX_KEYS = 10


@dataclass(frozen=True)
class FutureRows:
    """The rows of one table stamped beyond the tolerance: how many, and the earliest few."""

    table: str
    rows: int
    keys: tuple[tuple[int, str], ...]  # (id, last_updated as watermark text), earliest first

    def to_doc(self) -> dict[str, Any]:
        return {"rows": self.rows, "keys": [[pk, stamp] for pk, stamp in self.keys]}


def find_future_rows(con: pg8000.native.Connection, table: SourceTable, beyond: datetime) -> FutureRows | None:
    """Rows of ``table`` with ``last_updated > beyond`` (None when there are none).

    Runs inside the run's snapshot. ``count(*) OVER ()`` counts every match before the
    LIMIT, so one statement gives both the count and the first keys.
    """
    t, pk = identifier(table.name), identifier(table.primary_key)
    rows = con.run(
        f"SELECT {pk}, to_char(last_updated, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS'), count(*) OVER ()"  # noqa: S608  # nosec B608
        f" FROM {t} WHERE last_updated > CAST(:beyond AS timestamp) ORDER BY last_updated, {pk} LIMIT {MAX_KEYS}",
        beyond=beyond,
    )
    if not rows:
        return None
    return FutureRows(table.name, int(rows[0][2]), tuple((int(r[0]), str(r[1])) for r in rows))
