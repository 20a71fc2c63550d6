"""The look-back dedup set: ``(id, last_updated)`` of rows a run has already emitted
whose ``last_updated`` lies within ``lookback`` of the run's new watermark.

The next run re-reads ``[watermark - lookback, watermark)`` to catch late commits;
a re-read row whose key is in this set was emitted before and is dropped. The set is
stored per run at ``state/recent-keys/<seq>-<attempt>.json.gz`` (named by the
manifest, so it is committed atomically with the watermarks it belongs to).

Its size is bounded by how many rows change within ``lookback``, not by table size.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from ingestion.errors import CorruptStateError, StateError

if TYPE_CHECKING:
    from common.s3_store import LakeStore

FORMAT = 1

Key = tuple[int, str]  # (primary key, last_updated as watermark text)


def carry_forward(previous: Iterable[Key], recent_from: str) -> set[Key]:
    """The part of a previous set that the next run's look-back can still re-read."""
    return {key for key in previous if key[1] >= recent_from}


def encode(keys: Mapping[str, Iterable[Key]]) -> bytes:
    """The stored form: gzip JSON, sorted so equal sets give equal bytes."""
    doc = {"format": FORMAT, "tables": {t: sorted(k, key=lambda x: (x[1], x[0])) for t, k in sorted(keys.items())}}
    return gzip.compress(json.dumps(doc, separators=(",", ":")).encode(), mtime=0)


def decode(data: bytes) -> dict[str, set[Key]]:
    """Parse the stored form; CorruptStateError (a StateError) if it is not a recent-keys document."""
    try:
        doc = json.loads(gzip.decompress(data))
        if doc.get("format") != FORMAT:
            raise ValueError(f"unknown format {doc.get('format')!r}")
        return {table: {(int(i), str(lu)) for i, lu in pairs} for table, pairs in doc["tables"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CorruptStateError(f"unreadable recent-keys object: {exc}") from exc


def load(store: LakeStore, key: str | None) -> dict[str, set[Key]]:
    """The set a manifest names (empty if it names none)."""
    if key is None:
        return {}
    try:
        return decode(store.get_bytes(key))
    except StateError:
        raise
    except Exception as exc:  # botocore errors or a missing object: state we cannot do without
        raise StateError(f"cannot read recent-keys object {key!r}: {exc}") from exc
