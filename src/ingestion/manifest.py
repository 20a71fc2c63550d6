"""Object keys of the ingest bucket and the run manifest (the commit record).

Layout and manifest format are the contract with transform (docs/architecture.md,
"Ingest bucket layout"); change them there first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from common.runs import run_key
from common.s3_store import LakeStore, ObjectMissingError
from ingestion.errors import StateError
from ingestion.watermarks import format_watermark, validate_watermarks

FORMAT = 1


def data_key(table: str, run_seq: int, attempt: str, run_started_at: datetime) -> str:
    """``data/<table>/<YYYY-MM-DD>/<seq:010d>-<attempt>.jsonl.gz``."""
    return f"data/{table}/{run_started_at:%Y-%m-%d}/{run_seq:010d}-{attempt}.jsonl.gz"


def recent_keys_key(run_seq: int, attempt: str) -> str:
    """``state/recent-keys/<seq:010d>-<attempt>.json.gz``."""
    return f"state/recent-keys/{run_seq:010d}-{attempt}.json.gz"


def utc_stamp(moment: datetime) -> str:
    """``2026-11-22T10:00:00.000Z`` (manifest times carry the zone, watermarks do not)."""
    return format_watermark(moment) + "Z"


@dataclass(frozen=True)
class TableEntry:
    """What one run contributed for one table (``key`` and ``sha256`` None when no rows)."""

    key: str | None
    rows: int
    window_start: str | None
    window_end: str
    sha256: str | None


def build_manifest(
    *,
    run_seq: int,
    attempt: str,
    started_at: datetime,
    committed_at: datetime,
    previous_run_seq: int,
    tables: Mapping[str, TableEntry],
    watermarks: Mapping[str, str],
    recent_keys: str,
    future_rows: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The manifest document of docs/architecture.md."""
    return {
        "format": FORMAT,
        "run_seq": run_seq,
        "attempt": attempt,
        "started_at": utc_stamp(started_at),
        "committed_at": utc_stamp(committed_at),
        "previous_run_seq": previous_run_seq,
        "tables": {name: asdict(entry) for name, entry in tables.items()},
        "watermarks": dict(sorted(watermarks.items())),
        "recent_keys": recent_keys,
        "future_rows": dict(sorted((future_rows or {}).items())),
    }


def read_manifest(store: LakeStore, run_seq: int) -> dict[str, Any] | None:
    """Manifest ``run_seq``, or None if there is none; StateError if it is malformed."""
    key = run_key(run_seq)
    try:
        doc = store.get_json(key)
    except ObjectMissingError:
        return None
    except ValueError as exc:
        raise StateError(f"manifest {key} is not JSON: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("run_seq") != run_seq:
        raise StateError(f"manifest {key} is not a format {FORMAT} manifest of run {run_seq}")
    doc["watermarks"] = validate_watermarks(doc.get("watermarks"))
    return doc
