"""The transform commit record (``runs/<seq:010d>.json`` in the processed bucket).

Written last by transform, with ``If-None-Match: *``; load reacts to it and loads
exactly the Parquet it names, and the next transform run starts from the snapshots
it names. Document (docs/architecture.md, "Processed bucket layout")::

    {"format": 1, "run_seq": 42, "attempt": "3f2a9c0d1b7e", "ingest_manifest": "runs/0000000042.json",
     "tables": {warehouse_table: {"key": "tables/..." | null, "rows": n}, ...},   all eleven
     "snapshots": {source_table: "snapshot/..." | null, ...},                     all eight
     "quarantine": {source_table: {"key": "quarantine/...", "rows": n}, ...},     tables with rejects
     "rows_quarantined": n, "duration_ms": n, "committed_at": "2026-11-22T10:00:03.412Z",
     "deletions": {fact_table: {"observed_at": "...", "ids": [7]}},                 comparison runs only
     "fx_rates": {"key": "tables/fx_rate/..." | null, "rows": n}}                   exchange-rate runs only

``fx_rates`` (issue 17, ``lake.fx_rates``) names the Parquet of an exchange-rate run's good
rates; it is absent from every other record, which read as ``fx_rates`` None.

Read strictly: loading a run that was misread cannot be undone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from common.s3_store import LakeStore, ObjectMissingError
from common.warehouse_tables import FACTS, LOAD_ORDER, TABLES
from lake.changes import Deletions
from lake.errors import CommitRecordError
from lake.keys import FX_RATES, run_key, table_prefix


@dataclass(frozen=True)
class ObjectRef:
    """An object a commit record names and how many rows it holds (``key`` None when none)."""

    key: str | None
    rows: int

    def to_doc(self) -> dict[str, Any]:
        return {"key": self.key, "rows": self.rows}


@dataclass(frozen=True)
class TableObject:
    """One warehouse table's Parquet of a run, to load: its key and the rows transform declared."""

    table: str
    key: str
    rows: int


@dataclass(frozen=True)
class CommitRecord:
    """One committed transform run.

    ``snapshots`` is None when the document has none (a record written by hand for
    load alone); transform refuses to continue from such a record.
    """

    FORMAT: ClassVar[int] = 1

    run_seq: int
    attempt: str
    tables: dict[str, ObjectRef]
    snapshots: dict[str, str | None] | None = None
    quarantine: dict[str, ObjectRef] = field(default_factory=dict)
    ingest_manifest: str | None = None
    rows_quarantined: int = 0
    duration_ms: int | None = None
    committed_at: str | None = None
    # Source ids of facts found deleted by a comparison run (``lake.changes``): load writes deletion versions.
    deletions: dict[str, Deletions] = field(default_factory=dict)
    fx_rates: ObjectRef | None = None

    @property
    def key(self) -> str:
        return run_key(self.run_seq)

    @property
    def objects(self) -> tuple[TableObject, ...]:
        """The Parquet objects to load, in ``LOAD_ORDER`` (dimensions first); tables without rows left out."""
        return tuple(
            TableObject(name, ref.key, ref.rows)
            for name in LOAD_ORDER
            if (ref := self.tables.get(name)) is not None and ref.key is not None and ref.rows
        )

    def to_doc(self) -> dict[str, Any]:
        """The JSON document (what ``write_commit_record`` stores)."""
        return {
            "format": self.FORMAT,
            "run_seq": self.run_seq,
            "attempt": self.attempt,
            "ingest_manifest": self.ingest_manifest,
            "tables": {name: ref.to_doc() for name, ref in self.tables.items()},
            "snapshots": dict(self.snapshots or {}),
            "quarantine": {name: ref.to_doc() for name, ref in self.quarantine.items()},
            "rows_quarantined": self.rows_quarantined,
            "duration_ms": self.duration_ms,
            "committed_at": self.committed_at,
            **({"deletions": {t: d.to_doc() for t, d in sorted(self.deletions.items())}} if self.deletions else {}),
            **({"fx_rates": self.fx_rates.to_doc()} if self.fx_rates is not None else {}),
        }

    @classmethod
    def from_doc(cls, doc: Any, seq: int) -> CommitRecord:
        """Check and read the commit record document of run ``seq``.

        Raises
        ------
        CommitRecordError
            Wrong format version or run id, a table outside the warehouse allow-list,
            a bad table entry, or a key outside its table's prefix.
        """
        key = run_key(seq)
        if not isinstance(doc, dict):
            raise CommitRecordError(f"{key}: not a JSON object")
        if doc.get("format") != cls.FORMAT:
            raise CommitRecordError(f"{key}: unsupported format {doc.get('format')!r}")
        if doc.get("run_seq") != seq:
            raise CommitRecordError(f"{key}: run_seq {doc.get('run_seq')!r} does not match its key")
        attempt, tables = doc.get("attempt"), doc.get("tables")
        if not isinstance(attempt, str) or not attempt or not isinstance(tables, dict):
            raise CommitRecordError(f"{key}: attempt and tables are required")
        unknown = sorted(set(tables) - set(TABLES))
        if unknown:
            raise CommitRecordError(f"{key}: tables outside the warehouse allow-list: {unknown}")
        snapshots = doc.get("snapshots")
        if snapshots is not None and not isinstance(snapshots, dict):
            raise CommitRecordError(f"{key}: snapshots is a {type(snapshots).__name__}, not an object")
        return cls(
            run_seq=seq,
            attempt=attempt,
            tables={name: _table_ref(key, name, entry) for name, entry in tables.items()},
            snapshots=snapshots,
            quarantine={name: _quarantine_ref(key, name, e) for name, e in (doc.get("quarantine") or {}).items()},
            ingest_manifest=doc.get("ingest_manifest"),
            rows_quarantined=int(doc.get("rows_quarantined") or 0),
            duration_ms=doc.get("duration_ms"),
            committed_at=doc.get("committed_at"),
            deletions=_deletions(key, doc.get("deletions") or {}),
            fx_rates=_table_ref(key, FX_RATES, doc["fx_rates"]) if doc.get("fx_rates") is not None else None,
        )


def _table_ref(record_key: str, name: str, entry: Any) -> ObjectRef:
    if not isinstance(entry, dict) or not isinstance(entry.get("rows"), int) or entry["rows"] < 0:
        raise CommitRecordError(f"{record_key}: bad entry for {name}: {entry!r}")
    obj_key = entry.get("key")
    if obj_key is None or entry["rows"] == 0:
        return ObjectRef(obj_key, entry["rows"])  # nothing to load (a heartbeat run has no objects at all)
    if not isinstance(obj_key, str) or not obj_key.startswith(table_prefix(name)):
        raise CommitRecordError(f"{record_key}: {name} key {obj_key!r} is outside {table_prefix(name)}")
    return ObjectRef(obj_key, entry["rows"])


def _deletions(record_key: str, doc: Any) -> dict[str, Deletions]:
    if not isinstance(doc, dict) or not set(doc) <= set(FACTS):
        raise CommitRecordError(f"{record_key}: deletions must map fact tables to ids: {doc!r}")
    try:
        return {name: Deletions.from_doc(entry, f"{record_key} deletions.{name}") for name, entry in doc.items()}
    except ValueError as exc:
        raise CommitRecordError(str(exc)) from exc


def _quarantine_ref(record_key: str, name: str, entry: Any) -> ObjectRef:
    if not isinstance(entry, Mapping) or not isinstance(entry.get("rows"), int):
        raise CommitRecordError(f"{record_key}: bad quarantine entry for {name}: {entry!r}")
    return ObjectRef(entry.get("key"), entry["rows"])


def read_commit_record(store: LakeStore, seq: int) -> CommitRecord:
    """Read and check the commit record of processed run ``seq``.

    Raises
    ------
    CommitRecordError
        It is missing, not JSON, or breaks the contract.
    """
    try:
        document = store.get_json(run_key(seq))
    except ObjectMissingError as exc:
        raise CommitRecordError(f"commit record of run {seq} disappeared: {exc}") from exc
    except ValueError as exc:  # json.JSONDecodeError
        raise CommitRecordError(f"commit record of run {seq} is not JSON: {exc}") from exc
    return CommitRecord.from_doc(document, seq)


def write_commit_record(store: LakeStore, record: CommitRecord) -> None:
    """Create the commit record (the commit point); ``ObjectExistsError`` if another invocation committed the run."""
    store.put_new_json(record.key, record.to_doc())
