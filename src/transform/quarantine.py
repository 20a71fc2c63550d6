"""Bad rows: how they are split off vectorised, described, and written to quarantine.

A rejected row is never dropped silently (SPEC §3): it becomes one JSON line in
``quarantine/<seq:010d>/<source_table>-<attempt>.jsonl`` in the processed bucket
with the table, run, source object, line, primary key (if it could be read), the
reason and the raw line, and is counted in the commit record and a metric.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from common.s3_store import LakeStore

QUARANTINE_PREFIX = "quarantine/"


@dataclass(frozen=True)
class BadRow:
    """One rejected input row (or, with ``line_no`` None, a whole rejected object)."""

    table: str
    run_seq: int
    source_key: str | None
    line_no: int | None
    primary_key: int | None
    reason: str
    raw: str | None


@dataclass
class QuarantineLog:
    """The bad rows of one run, grouped by source table."""

    run_seq: int
    rows: dict[str, list[BadRow]] = field(default_factory=dict)

    def add(self, bad: Sequence[BadRow]) -> None:
        for row in bad:
            self.rows.setdefault(row.table, []).append(row)

    def count(self, table: str | None = None) -> int:
        if table is None:
            return sum(len(v) for v in self.rows.values())
        return len(self.rows.get(table, ()))

    def reasons(self, table: str) -> dict[str, int]:
        """How many rows of ``table`` were rejected per reason (for the ERROR log line)."""
        return dict(Counter(r.reason for r in self.rows.get(table, ())))


def quarantine_key(seq: int, table: str, attempt: str) -> str:
    """Where the bad rows of ``table`` in run ``seq`` go."""
    return f"{QUARANTINE_PREFIX}{seq:010d}/{table}-{attempt}.jsonl"


def write_quarantine(store: LakeStore, log: QuarantineLog, attempt: str) -> dict[str, dict[str, object]]:
    """Write one JSONL object per table with bad rows; return the commit record's ``quarantine`` entry.

    Parameters
    ----------
    store : LakeStore
        The processed bucket.
    log : QuarantineLog
        The run's bad rows.
    attempt : str
        This invocation's attempt id (keeps a failed attempt's objects apart).

    Returns
    -------
    dict
        ``{source_table: {"key": ..., "rows": n}}`` for every table with bad rows.
    """
    out: dict[str, dict[str, object]] = {}
    for table in sorted(log.rows):
        rows = log.rows[table]
        key = quarantine_key(log.run_seq, table, attempt)
        body = "".join(json.dumps(asdict(r), sort_keys=True) + "\n" for r in rows).encode()
        store.put_new(key, body, content_type="application/x-ndjson")
        out[table] = {"key": key, "rows": len(rows)}
    return out


# A check is (mask of bad rows, reason). Checks are applied in order; a row gets the
# reason of the first check it fails, so put the most basic problem (NULL) first.
Check = tuple[pa.Array | pa.ChunkedArray, str]


def split_rejected(table: pa.Table, checks: Sequence[Check]) -> tuple[pa.Table, list[int], list[str]]:
    """Split ``table`` into rows passing every check and the positions + reasons of the rest.

    Vectorised in Arrow: each check is a boolean array over the whole table; only the
    (few) rejected rows are touched one by one, to attach their reason.

    Parameters
    ----------
    table : pyarrow.Table
        Rows to check.
    checks : sequence of (mask, reason)
        ``mask`` is true where the row is bad (null counts as not bad).

    Returns
    -------
    good : pyarrow.Table
        The rows that passed, in input order.
    bad_index : list of int
        Row positions of the rejected rows, ascending.
    reasons : list of str
        The reason of each rejected row, aligned with ``bad_index``.
    """
    bad: pa.Array | pa.ChunkedArray | None = None
    reason_of: dict[int, str] = {}
    for mask, text in checks:
        m = pc.fill_null(mask, False)
        new = m if bad is None else pc.and_not(m, bad)
        if not pc.any(new).as_py():
            continue
        for i in pc.indices_nonzero(new).to_pylist():
            reason_of[i] = text
        bad = new if bad is None else pc.or_(bad, new)
    if bad is None:
        return table, [], []
    bad_index = sorted(reason_of)
    good = table.filter(pc.invert(bad))
    return good, bad_index, [reason_of[i] for i in bad_index]


def bad_rows_from(
    rows: pa.Table,
    bad_index: Sequence[int],
    reasons: Sequence[str],
    *,
    table: str,
    run_seq: int,
    source_key: str | None,
    primary_key: str,
    line_no_column: str,
    raw_line: Callable[[int], str | None],
) -> list[BadRow]:
    """Describe the rejected rows of ``rows`` (positions ``bad_index``) as quarantine records."""
    if len(bad_index) == 0:
        return []
    picked = rows.take(pa.array(bad_index))
    pks = picked.column(primary_key).to_pylist() if primary_key in picked.column_names else [None] * len(bad_index)
    lines = picked.column(line_no_column).to_pylist()
    return [
        BadRow(table, run_seq, source_key, line, pk, why, raw_line(line))
        for line, pk, why in zip(lines, pks, reasons, strict=True)
    ]
