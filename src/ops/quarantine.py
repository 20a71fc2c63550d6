"""Inspect bad input: the quarantine objects transform writes to the processed bucket.

Layout (docs/architecture.md): ``quarantine/<seq:010d>/<source_table>-<attempt>.jsonl``,
one JSON record per rejected row with its reason (``transform.quarantine.BadRow``).
An object is *committed* when the transform commit record of its run names it; an
uncommitted one is the orphan of a failed attempt and was never counted.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from common.runs import run_key
from common.s3_store import LakeStore, ObjectMissingError

QUARANTINE_PREFIX = "quarantine/"
_KEY = re.compile(r"^quarantine/(\d{10})/([a-z_]+)-([0-9a-f]+)\.jsonl$")


@dataclass(frozen=True)
class QuarantineKey:
    """The parts of a quarantine object's key."""

    run_seq: int
    table: str
    attempt: str


def parse_quarantine_key(key: str) -> QuarantineKey | None:
    """The run, table and attempt of a quarantine key, or None if ``key`` is not one."""
    m = _KEY.match(key)
    return QuarantineKey(int(m.group(1)), m.group(2), m.group(3)) if m else None


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
    return [json.loads(line) for line in store.get_text_lines(key) if line.strip()]


def _committed_keys(store: LakeStore, seq: int, cache: dict[int, set[str]]) -> set[str]:
    if seq not in cache:
        try:
            record = store.get_json(run_key(seq))
        except ObjectMissingError:
            record = {}
        cache[seq] = {str(v.get("key")) for v in (record.get("quarantine") or {}).values() if isinstance(v, dict)}
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
    prefix = f"{QUARANTINE_PREFIX}{run_seq:010d}/" if run_seq is not None else QUARANTINE_PREFIX
    commits: dict[int, set[str]] = {}
    found = []
    for key in store.list_keys(prefix):
        parts = parse_quarantine_key(key)
        if parts is None or (table is not None and parts.table != table):
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
