"""Run sequence ids and the keys of commit records, shared by every stage.

A run's commit record lives at ``runs/<seq:010d>.json`` in the bucket of the stage
that wrote it. Zero padding makes S3's lexicographic listing the run order.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator

from common.s3_store import LakeStore

RUNS_PREFIX = "runs/"
_RUN_KEY = re.compile(r"^runs/(\d{10})\.json$")


def run_key(seq: int) -> str:
    """The commit record key of run ``seq``."""
    if seq < 1:
        raise ValueError(f"run sequence ids start at 1, got {seq}")
    return f"{RUNS_PREFIX}{seq:010d}.json"


def seq_from_key(key: str) -> int | None:
    """The run sequence id of a commit record key, or None if ``key`` is not one."""
    m = _RUN_KEY.match(key)
    return int(m.group(1)) if m else None


def new_attempt_id() -> str:
    """A random id per invocation, so a failed attempt's objects are orphaned, not overwritten."""
    return secrets.token_hex(6)


def committed_runs(store: LakeStore, after: int = 0) -> Iterator[int]:
    """Sequence ids of the commit records in ``store`` greater than ``after``, ascending."""
    start_after = run_key(after) if after >= 1 else None
    for key in store.list_keys(RUNS_PREFIX, start_after=start_after):
        seq = seq_from_key(key)
        if seq is not None and seq > after:
            yield seq
