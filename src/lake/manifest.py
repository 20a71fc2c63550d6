"""The ingestion manifest (``runs/<seq:010d>.json`` in the ingest bucket): ingestion's commit record.

Written last by an ingestion run, with ``If-None-Match: *``: whoever creates it owns
the run sequence id. Transform reacts to it and reads only the objects it names.
Document (docs/architecture.md, "Ingest bucket layout")::

    {"format": 1, "run_seq": 42, "attempt": "3f2a9c0d1b7e",
     "started_at": "2026-11-22T10:00:00.000Z", "committed_at": "2026-11-22T10:00:03.412Z",
     "previous_run_seq": 41,
     "tables": {"sales_order": {"key": "data/...", "rows": 120, "window_start": "...",
                                "window_end": "...", "sha256": "<hex>"}, ...},
     "watermarks": {"sales_order": "2026-11-22T10:00:00.000", ...},
     "recent_keys": "state/recent-keys/0000000042-3f2a9c0d1b7e.json.gz",
     "future_rows": {"sales_order": {"rows": 1, "keys": [...]}},
     "changes": {"sales_order": {"observed_at": "...", "deleted": [7], "changed_in_place": [9]}},
     "fx_rates": {"key": "data/fx_rate/...", "rows": 6, "rejected": 1, "sha256": "<hex>",
                  "state": "state/fx-rates/...", "dates": 2, "missing": {"2026-11-30": "404 ..."}}}

``changes`` is present on a comparison run only (``lake.changes``).
``snapshot_cursors`` is present while a table's first snapshot is being taken in key
ranges over several runs (``SnapshotCursor``; ``ingestion.key_ranges``): every manifest
carries it forward until the table's snapshot completes (then the table has a watermark).
``fx_rates`` is present only in an exchange-rate run's manifest (issue 17, ``lake.fx_rates``);
such a run has no tables and carries the previous run's watermarks and recent keys
unchanged. A reader that predates it ignores the key; a manifest without it reads as None.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from common.s3_store import LakeStore, ObjectMissingError
from common.source_tables import SOURCE_TABLES
from lake.changes import CompareState, TableChanges
from lake.errors import ManifestError
from lake.keys import run_key


@dataclass(frozen=True)
class TableEntry:
    """What one run contributed for one table (``key`` and ``sha256`` None when it had no rows)."""

    key: str | None
    rows: int
    window_start: str | None
    window_end: str | None
    sha256: str | None

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> TableEntry:
        return cls(
            doc.get("key"), int(doc.get("rows") or 0), doc.get("window_start"), doc.get("window_end"), doc.get("sha256")
        )


@dataclass(frozen=True)
class FxRatesEntry:
    """What an exchange-rate run fetched: its data object (``key``/``sha256`` None when it holds no line),
    the good and the rejected rates, the state object after it, the dates it asked the API for,
    and the dates it found no document for, with the reason."""

    key: str | None
    rows: int
    rejected: int
    sha256: str | None
    state: str
    dates: int
    missing: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> FxRatesEntry:
        return cls(
            doc.get("key"), int(doc.get("rows") or 0), int(doc.get("rejected") or 0), doc.get("sha256"),
            str(doc["state"]), int(doc.get("dates") or 0), dict(doc.get("missing") or {}),
        )  # fmt: skip


@dataclass(frozen=True)
class SnapshotCursor:
    """Where a table's first snapshot, taken in key ranges over several runs, stands.

    ``bound`` is the exclusive ``last_updated`` bound of the whole snapshot (the start of
    the run that began it; the table's watermark once the snapshot completes), ``from_id``
    the first primary key of the next range, ``rows`` and ``runs`` what it took so far.
    """

    bound: str
    from_id: int
    rows: int = 0
    runs: int = 0

    def to_doc(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> SnapshotCursor:
        bound, from_id = doc["bound"], doc["from_id"]
        if not isinstance(bound, str) or not isinstance(from_id, int) or isinstance(from_id, bool):
            raise ValueError(f"a snapshot cursor needs a text bound and an integer from_id, not {dict(doc)!r}")
        return cls(bound, from_id, int(doc.get("rows") or 0), int(doc.get("runs") or 0))


@dataclass(frozen=True)
class IngestManifest:
    """One committed ingestion run.

    ``tables`` lists the tables this run extracted; ``watermarks`` every table ever
    extracted (their text format is ingestion's to check: ``ingestion.watermarks``).
    """

    FORMAT: ClassVar[int] = 1

    run_seq: int
    attempt: str
    started_at: str | None
    committed_at: str | None
    previous_run_seq: int | None
    tables: dict[str, TableEntry]
    watermarks: dict[str, str] = field(default_factory=dict)
    recent_keys: str | None = None
    # Rows stamped in the future, per table: {"rows", "keys"} (``ingestion.future_rows``).
    future_rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    # A comparison run's findings per source table (``lake.changes``); {} on an incremental run.
    changes: dict[str, TableChanges] = field(default_factory=dict)
    # The last comparison's state, carried forward by every later run (``lake.changes``).
    compare_state: CompareState | None = None
    fx_rates: FxRatesEntry | None = None
    # Tables whose first snapshot is under way in key ranges (``SnapshotCursor``); {} when none.
    snapshot_cursors: dict[str, SnapshotCursor] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return run_key(self.run_seq)

    def to_doc(self) -> dict[str, Any]:
        """The JSON document (what ``write_manifest`` stores)."""
        return {
            "format": self.FORMAT,
            "run_seq": self.run_seq,
            "attempt": self.attempt,
            "started_at": self.started_at,
            "committed_at": self.committed_at,
            "previous_run_seq": self.previous_run_seq,
            "tables": {name: asdict(entry) for name, entry in self.tables.items()},
            "watermarks": dict(sorted(self.watermarks.items())),
            "recent_keys": self.recent_keys,
            "future_rows": dict(sorted(self.future_rows.items())),
            **({"changes": {t: c.to_doc() for t, c in sorted(self.changes.items())}} if self.changes else {}),
            **({"compare_state": self.compare_state.to_doc()} if self.compare_state else {}),
            **({"fx_rates": asdict(self.fx_rates)} if self.fx_rates is not None else {}),
            **({"snapshot_cursors": cursors_doc(self.snapshot_cursors)} if self.snapshot_cursors else {}),
        }

    @classmethod
    def from_doc(cls, doc: Any, seq: int) -> IngestManifest:
        """Check and read the manifest document of run ``seq``.

        Raises
        ------
        ManifestError
            Not a format-1 manifest of run ``seq``, or a table outside the source allow-list.
        """
        key = run_key(seq)
        try:
            if doc["format"] != cls.FORMAT:
                raise ManifestError(f"{key}: unsupported format {doc['format']!r}")
            if doc["run_seq"] != seq:
                raise ManifestError(f"{key}: run_seq {doc['run_seq']!r} does not match its key")
            tables: dict[str, TableEntry] = {}
            for name, entry in doc["tables"].items():
                if name not in SOURCE_TABLES:
                    raise ManifestError(f"{key}: table {name!r} is not in the source allow-list")
                tables[name] = TableEntry.from_doc(entry)
            watermarks = doc.get("watermarks", {})
            if not isinstance(watermarks, dict):
                raise ManifestError(f"{key}: watermarks is a {type(watermarks).__name__}, not an object")
            return cls(
                run_seq=seq,
                attempt=str(doc.get("attempt", "")),
                started_at=doc.get("started_at"),
                committed_at=doc.get("committed_at"),
                previous_run_seq=doc.get("previous_run_seq"),
                tables=tables,
                watermarks=dict(watermarks),
                recent_keys=doc.get("recent_keys"),
                future_rows=dict(doc.get("future_rows") or {}),
                changes=_changes(key, doc.get("changes") or {}),
                compare_state=CompareState.from_doc(doc.get("compare_state"), key),
                fx_rates=FxRatesEntry.from_doc(doc["fx_rates"]) if doc.get("fx_rates") is not None else None,
                snapshot_cursors=_cursors(key, doc.get("snapshot_cursors") or {}),
            )
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise ManifestError(f"{key}: malformed commit record: {exc!r}") from exc


def _source_tables(key: str, field: str, doc: Any) -> dict[str, Any]:
    """A per-source-table object of the manifest (``changes``, ``snapshot_cursors``), its names checked."""
    if not isinstance(doc, dict):
        raise ManifestError(f"{key}: {field} is a {type(doc).__name__}, not an object")
    unknown = sorted(set(doc) - set(SOURCE_TABLES))
    if unknown:
        raise ManifestError(f"{key}: {field} name tables outside the source allow-list: {unknown}")
    return doc


def _changes(key: str, doc: Any) -> dict[str, TableChanges]:
    entries = _source_tables(key, "changes", doc)
    return {name: TableChanges.from_doc(entry, f"{key} changes.{name}") for name, entry in entries.items()}


def cursors_doc(cursors: Mapping[str, SnapshotCursor]) -> dict[str, dict[str, Any]]:
    """The ``snapshot_cursors`` document (also what SSM mirrors)."""
    return {t: c.to_doc() for t, c in sorted(cursors.items())}


def _cursors(key: str, doc: Any) -> dict[str, SnapshotCursor]:
    entries = _source_tables(key, "snapshot_cursors", doc)
    return {name: SnapshotCursor.from_doc(entry) for name, entry in entries.items()}


def read_manifest(store: LakeStore, seq: int) -> IngestManifest | None:
    """The manifest of run ``seq`` in the ingest bucket, or None if there is none.

    Raises
    ------
    ManifestError
        It exists but is not JSON or breaks the contract.
    """
    key = run_key(seq)
    try:
        doc = store.get_json(key)
    except ObjectMissingError:
        return None
    except ValueError as exc:
        raise ManifestError(f"ingest commit record {key} is not JSON: {exc}") from exc
    return IngestManifest.from_doc(doc, seq)


def write_manifest(store: LakeStore, manifest: IngestManifest) -> None:
    """Create the manifest (the commit point); ``ObjectExistsError`` if run ``run_seq`` is committed already."""
    store.put_new_json(manifest.key, manifest.to_doc())
