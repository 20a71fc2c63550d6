"""Inspect bad input: the quarantine objects transform writes to the processed bucket.

Layout and record format are ``lake.keys.quarantine_key`` and ``lake.quarantine``.
An object is *committed* when the transform commit record of its run names it; an
uncommitted one is the orphan of a failed attempt and was never counted.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from common.s3_store import LakeStore
from lake.commit_record import read_commit_record
from lake.errors import CommitRecordError
from lake.keys import KeyKind, parse_key, quarantine_prefix
from lake.quarantine import decode_records


@dataclass
class QuarantineObject:
    """One quarantine object: where, which run/table, how many rows and why."""

    key: str
    run_seq: int
    table: str
    attempt: str
    rows: int
    committed: bool
    reasons: dict[str, int] = field(default_factory=dict)


def read_records(store: LakeStore, key: str) -> list[dict[str, Any]]:
    """The rejected records of one quarantine object (one JSON object per line)."""
    return decode_records(store.get_text_lines(key))


def _committed_keys(store: LakeStore, seq: int, cache: dict[int, set[str]]) -> set[str]:
    if seq not in cache:
        try:
            quarantine = read_commit_record(store, seq).quarantine
        except CommitRecordError:  # not committed (yet), or unreadable: nothing it names counts
            quarantine = {}
        cache[seq] = {str(ref.key) for ref in quarantine.values()}
    return cache[seq]


def list_quarantine(
    store: LakeStore, *, run_seq: int | None = None, table: str | None = None
) -> list[QuarantineObject]:
    """Every quarantine object in the processed bucket, optionally of one run and/or table.

    Parameters
    ----------
    store
        The processed bucket.
    run_seq, table
        Optional filters.

    Returns
    -------
    list of QuarantineObject
        In run order, with row counts and the count of each reason.
    """
    commits: dict[int, set[str]] = {}
    found = []
    for key in store.list_keys(quarantine_prefix(run_seq)):
        parts = parse_key(key, KeyKind.QUARANTINE)
        if parts is None or parts.table is None or parts.attempt is None:
            continue
        if table is not None and parts.table != table:
            continue
        records = read_records(store, key)
        reasons = Counter(str(r.get("reason", "?")) for r in records)
        found.append(
            QuarantineObject(
                key=key,
                run_seq=parts.run_seq,
                table=parts.table,
                attempt=parts.attempt,
                rows=len(records),
                committed=key in _committed_keys(store, parts.run_seq, commits),
                reasons=dict(reasons.most_common()),
            )
        )
    return found


def counts_by_table(objects: list[QuarantineObject]) -> dict[str, int]:
    """Committed quarantined rows per source table (orphans of failed attempts excluded)."""
    out: Counter[str] = Counter()
    for obj in objects:
        if obj.committed:
            out[obj.table] += obj.rows
    return dict(sorted(out.items()))
