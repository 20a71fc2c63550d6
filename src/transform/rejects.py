"""Rejected rows: how they are split off vectorised, collected per run, and written to quarantine.

A rejected row is never dropped silently (SPEC §3): it becomes one record
(``lake.quarantine.BadRow``) in the run's quarantine object of its table, and is
counted in the commit record and a metric.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from common.s3_store import LakeStore
from lake.commit_record import ObjectRef
from lake.keys import quarantine_key
from lake.quarantine import CONTENT_TYPE, BadRow, encode_records


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


def write_quarantine(store: LakeStore, log: QuarantineLog, attempt: str) -> dict[str, ObjectRef]:
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
        ``{source_table: ObjectRef(key, rows)}`` for every table with bad rows.
    """
    out: dict[str, ObjectRef] = {}
    for table in sorted(log.rows):
        rows = log.rows[table]
        key = quarantine_key(log.run_seq, table, attempt)
        store.put_new(key, encode_records(rows), content_type=CONTENT_TYPE)
        out[table] = ObjectRef(key, len(rows))
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
