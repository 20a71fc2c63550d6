"""The key of every lake object: a builder and a parser side by side, one per kind of object.

Ingest bucket (written by ingestion, read by transform)::

    data/<table>/<YYYY-MM-DD>/<seq:010d>-<attempt>.jsonl.gz   a table's rows of one run
    state/recent-keys/<seq:010d>-<attempt>.json.gz            the look-back dedup set
    state/compare/<table>/<seq:010d>-<attempt>.parquet        a comparison's (id, last_updated, hash) per row
    state/fx-rates/<seq:010d>-<attempt>.json.gz               the exchange rates fetched so far (FX_RATES)
    runs/<seq:010d>.json                                      the manifest (commit record)

Exchange rates (issue 17) are a second source with the same layout: a rates run's
rates are ``data/fx_rate/<day>/<seq>-<attempt>.jsonl.gz`` and, transformed,
``tables/fx_rate/<seq>-<attempt>.parquet`` (``FX_RATES`` is their table name).

Processed bucket (written by transform, read by load and ops)::

    tables/<warehouse_table>/<seq:010d>-<attempt>.parquet     a warehouse table's rows of one run
    snapshot/<source_table>/<seq:010d>-<attempt>.parquet      a dimension source's state after a run
    quarantine/<seq:010d>/<source_table>-<attempt>.jsonl      rejected rows with their reason
    runs/<seq:010d>.json                                      the transform commit record

The sequence id is zero padded so that S3's lexicographic listing is the run order;
the attempt id is random per invocation, so a failed attempt's objects are orphaned,
never overwritten. docs/architecture.md describes the layout; this module is the only
code that spells it.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from datetime import date
from enum import StrEnum
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from common.s3_store import LakeStore

RUNS_PREFIX = "runs/"
DATA_PREFIX = "data/"
RECENT_KEYS_PREFIX = "state/recent-keys/"
COMPARE_STATE_PREFIX = "state/compare/"
FX_STATE_PREFIX = "state/fx-rates/"
# The table name of the exchange-rate source in data/ and tables/ keys (not a totesys
# table, nor one of the eleven star tables: lake.fx_rates has its line and Parquet format).
FX_RATES = "fx_rate"
TABLES_PREFIX = "tables/"
SNAPSHOT_PREFIX = "snapshot/"
QUARANTINE_PREFIX = "quarantine/"

_SEQ = r"(?P<seq>\d{10})"
_ATTEMPT = r"(?P<attempt>[0-9a-f]+)"
_TABLE = r"(?P<table>[a-z_]+)"


class KeyKind(StrEnum):
    """What a lake object is."""

    RUN = "run"  # a commit record: the ingestion manifest or the transform commit record
    DATA = "data"
    RECENT_KEYS = "recent-keys"
    COMPARE_STATE = "compare-state"
    FX_STATE = "fx-state"
    TABLE = "table"
    SNAPSHOT = "snapshot"
    QUARANTINE = "quarantine"


class LakeKey(NamedTuple):
    """The parts of a lake object's key (``table``, ``attempt`` and ``day`` where the kind has them)."""

    kind: KeyKind
    run_seq: int
    table: str | None = None
    attempt: str | None = None
    day: date | None = None


_PATTERNS: dict[KeyKind, re.Pattern[str]] = {
    KeyKind.RUN: re.compile(rf"^runs/{_SEQ}\.json$"),
    KeyKind.DATA: re.compile(rf"^data/{_TABLE}/(?P<day>\d{{4}}-\d{{2}}-\d{{2}})/{_SEQ}-{_ATTEMPT}\.jsonl\.gz$"),
    KeyKind.RECENT_KEYS: re.compile(rf"^state/recent-keys/{_SEQ}-{_ATTEMPT}\.json\.gz$"),
    KeyKind.COMPARE_STATE: re.compile(rf"^state/compare/{_TABLE}/{_SEQ}-{_ATTEMPT}\.parquet$"),
    KeyKind.FX_STATE: re.compile(rf"^state/fx-rates/{_SEQ}-{_ATTEMPT}\.json\.gz$"),
    KeyKind.TABLE: re.compile(rf"^tables/{_TABLE}/{_SEQ}-{_ATTEMPT}\.parquet$"),
    KeyKind.SNAPSHOT: re.compile(rf"^snapshot/{_TABLE}/{_SEQ}-{_ATTEMPT}\.parquet$"),
    KeyKind.QUARANTINE: re.compile(rf"^quarantine/{_SEQ}/{_TABLE}-{_ATTEMPT}\.jsonl$"),
}


def parse_key(key: str, kind: KeyKind | None = None) -> LakeKey | None:
    """The kind, run, table, attempt and day of a lake key; None if ``key`` follows no layout (or not ``kind``'s)."""
    for kind_, pattern in _PATTERNS.items():
        if kind is not None and kind_ is not kind:
            continue
        m = pattern.match(key)
        if m is None:
            continue
        parts = m.groupdict()
        day = date.fromisoformat(parts["day"]) if parts.get("day") else None
        return LakeKey(kind_, int(parts["seq"]), parts.get("table"), parts.get("attempt"), day)
    return None


def _seq(seq: int) -> str:
    if seq < 1:
        raise ValueError(f"run sequence ids start at 1, got {seq}")
    return f"{seq:010d}"


# -- commit records (both buckets) ---------------------------------------------------------


def run_key(seq: int) -> str:
    """``runs/<seq:010d>.json``: the commit record of run ``seq`` in the bucket of the stage that wrote it."""
    return f"{RUNS_PREFIX}{_seq(seq)}.json"


def seq_from_key(key: str) -> int | None:
    """The run sequence id of a commit record key, or None if ``key`` is not one."""
    parsed = parse_key(key, KeyKind.RUN)
    return parsed.run_seq if parsed is not None else None


def committed_runs(store: LakeStore, after: int = 0) -> Iterator[int]:
    """Sequence ids of the commit records in ``store`` greater than ``after``, ascending."""
    start_after = run_key(after) if after >= 1 else None
    for key in store.list_keys(RUNS_PREFIX, start_after=start_after):
        seq = seq_from_key(key)
        if seq is not None and seq > after:
            yield seq


def new_attempt_id() -> str:
    """A random id per invocation (12 hex digits), part of every object key the invocation writes."""
    return secrets.token_hex(6)


# -- ingest bucket ---------------------------------------------------------------------------


def data_key(table: str, run_seq: int, attempt: str, run_started_at: date) -> str:
    """``data/<table>/<YYYY-MM-DD>/<seq:010d>-<attempt>.jsonl.gz`` (the day the run started)."""
    return f"{DATA_PREFIX}{table}/{run_started_at:%Y-%m-%d}/{_seq(run_seq)}-{attempt}.jsonl.gz"


def recent_keys_key(run_seq: int, attempt: str) -> str:
    """``state/recent-keys/<seq:010d>-<attempt>.json.gz``."""
    return f"{RECENT_KEYS_PREFIX}{_seq(run_seq)}-{attempt}.json.gz"


def compare_state_key(table: str, run_seq: int, attempt: str) -> str:
    """``state/compare/<table>/<seq:010d>-<attempt>.parquet``: the source's rows as comparison ``run_seq`` saw them."""
    return f"{COMPARE_STATE_PREFIX}{table}/{_seq(run_seq)}-{attempt}.parquet"


def fx_state_key(run_seq: int, attempt: str) -> str:
    """``state/fx-rates/<seq:010d>-<attempt>.json.gz``: the exchange rates held after rates run ``run_seq``."""
    return f"{FX_STATE_PREFIX}{_seq(run_seq)}-{attempt}.json.gz"


# -- processed bucket ------------------------------------------------------------------------


def table_key(table: str, run_seq: int, attempt: str) -> str:
    """``tables/<warehouse_table>/<seq:010d>-<attempt>.parquet``: the rows run ``run_seq`` contributes to ``table``."""
    return f"{table_prefix(table)}{_seq(run_seq)}-{attempt}.parquet"


def table_prefix(table: str) -> str:
    """``tables/<warehouse_table>/``: where every Parquet object of ``table`` lives."""
    return f"{TABLES_PREFIX}{table}/"


def snapshot_key(table: str, run_seq: int, attempt: str) -> str:
    """``snapshot/<source_table>/<seq:010d>-<attempt>.parquet``: ``table``'s state after run ``run_seq``."""
    return f"{SNAPSHOT_PREFIX}{table}/{_seq(run_seq)}-{attempt}.parquet"


def quarantine_key(run_seq: int, table: str, attempt: str) -> str:
    """``quarantine/<seq:010d>/<source_table>-<attempt>.jsonl``: the rows of ``table`` run ``run_seq`` rejected."""
    return f"{quarantine_prefix(run_seq)}{table}-{attempt}.jsonl"


def quarantine_prefix(run_seq: int | None = None) -> str:
    """``quarantine/`` or, for one run, ``quarantine/<seq:010d>/``."""
    return QUARANTINE_PREFIX if run_seq is None else f"{QUARANTINE_PREFIX}{_seq(run_seq)}/"
