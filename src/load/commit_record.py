"""The transform commit record (``runs/<seq:010d>.json`` in the processed bucket), as load reads it.

Contract: docs/architecture.md, "Processed bucket layout". Load only needs
``run_seq``, ``attempt`` and ``tables``; everything else is ignored. The record is
checked strictly, because loading a run we misread cannot be undone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common.runs import run_key
from common.s3_store import LakeStore, ObjectMissingError
from common.warehouse_tables import LOAD_ORDER, TABLES
from load.errors import CommitRecordError

SUPPORTED_FORMAT = 1


@dataclass(frozen=True)
class TableObject:
    """One warehouse table's Parquet in a run: its key and the row count transform declared."""

    table: str
    key: str
    rows: int


@dataclass(frozen=True)
class CommitRecord:
    """A processed run: its sequence id, transform attempt and the Parquet objects to load."""

    run_seq: int
    attempt: str
    key: str
    objects: tuple[TableObject, ...]  # in LOAD_ORDER (dimensions before facts); empty tables left out

    @classmethod
    def parse(cls, seq: int, document: Any) -> CommitRecord:
        """Validate a commit record document for run ``seq``.

        Raises
        ------
        CommitRecordError
            Wrong format version or run id, a table outside the allow-list, or a bad entry.
        """
        key = run_key(seq)
        if not isinstance(document, dict):
            raise CommitRecordError(f"{key}: not a JSON object")
        if document.get("format") != SUPPORTED_FORMAT:
            raise CommitRecordError(f"{key}: unsupported format {document.get('format')!r}")
        if document.get("run_seq") != seq:
            raise CommitRecordError(f"{key}: run_seq {document.get('run_seq')!r} does not match its key")
        attempt, tables = document.get("attempt"), document.get("tables")
        if not isinstance(attempt, str) or not attempt or not isinstance(tables, dict):
            raise CommitRecordError(f"{key}: attempt and tables are required")
        unknown = sorted(set(tables) - set(TABLES))
        if unknown:
            raise CommitRecordError(f"{key}: tables outside the warehouse allow-list: {unknown}")
        objects = []
        for name in LOAD_ORDER:
            entry = tables.get(name)
            if entry is None:
                continue
            if not isinstance(entry, dict) or not isinstance(entry.get("rows"), int) or entry["rows"] < 0:
                raise CommitRecordError(f"{key}: bad entry for {name}: {entry!r}")
            obj_key = entry.get("key")
            if obj_key is None or entry["rows"] == 0:
                continue  # nothing for this table in this run (a heartbeat run has no objects at all)
            if not isinstance(obj_key, str) or not obj_key.startswith(f"tables/{name}/"):
                raise CommitRecordError(f"{key}: {name} key {obj_key!r} is outside tables/{name}/")
            objects.append(TableObject(name, obj_key, entry["rows"]))
        return cls(run_seq=seq, attempt=attempt, key=key, objects=tuple(objects))


def read_commit_record(processed: LakeStore, seq: int) -> CommitRecord:
    """Read and validate the commit record of processed run ``seq``."""
    try:
        document = processed.get_json(run_key(seq))
    except ObjectMissingError as exc:
        raise CommitRecordError(f"commit record of run {seq} disappeared: {exc}") from exc
    except ValueError as exc:  # json.JSONDecodeError
        raise CommitRecordError(f"commit record of run {seq} is not JSON: {exc}") from exc
    return CommitRecord.parse(seq, document)
