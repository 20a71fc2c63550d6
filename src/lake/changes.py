"""What a source-vs-lake comparison found (SPEC §2 "Deletion", "Changes that do not touch last_updated").

A comparison (``ingestion.compare``) is an ordinary ingestion run: the rows changed in
place travel in its data objects like any other row; its manifest also names, per
source table, the ids it found and why (``TableChanges``). Transform carries the
deletions of the three fact sources into its commit record (``Deletions``, keyed by
fact table), and load writes one deletion version per id (``load.deletions``).

Documents::

    manifest  "changes": {"sales_order": {"observed_at": "2026-11-22T10:00:00.000",
                                           "deleted": [7], "changed_in_place": [9, 12]}, ...}
    commit    "deletions": {"fact_sales_order": {"observed_at": "2026-11-22T10:00:00.000", "ids": [7]}}

``observed_at`` is the source database's clock (UTC, no zone, milliseconds) when the
comparison's snapshot was taken: the deletion version's ``last_updated``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# The ingestion function's event for a comparison: {"action": "compare", "allow_mass_delete": bool}.
COMPARE_ACTION = "compare"
DELETED = "deleted"
CHANGED_IN_PLACE = "changed_in_place"


def _ids(value: Any, where: str) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in value):
        raise ValueError(f"{where}: ids must be a list of integers, not {value!r}")
    return tuple(value)


def _observed_at(doc: Mapping[str, Any], where: str) -> str:
    observed = doc.get("observed_at")
    if not isinstance(observed, str) or not observed:
        raise ValueError(f"{where}: observed_at is required")
    return observed


@dataclass(frozen=True)
class TableChanges:
    """What one comparison found in one source table."""

    observed_at: str
    deleted: tuple[int, ...] = ()
    changed_in_place: tuple[int, ...] = ()

    @property
    def found(self) -> int:
        return len(self.deleted) + len(self.changed_in_place)

    def to_doc(self) -> dict[str, Any]:
        return {
            "observed_at": self.observed_at,
            DELETED: list(self.deleted),
            CHANGED_IN_PLACE: list(self.changed_in_place),
        }

    @classmethod
    def from_doc(cls, doc: Any, where: str) -> TableChanges:
        """Raises ``ValueError`` (the callers turn it into their contract error)."""
        if not isinstance(doc, Mapping):
            raise ValueError(f"{where}: not an object")
        return cls(
            _observed_at(doc, where),
            _ids(doc.get(DELETED, []), f"{where}.{DELETED}"),
            _ids(doc.get(CHANGED_IN_PLACE, []), f"{where}.{CHANGED_IN_PLACE}"),
        )


@dataclass(frozen=True)
class Deletions:
    """The source ids of one fact that disappeared from the source, and when that was observed."""

    observed_at: str
    ids: tuple[int, ...]

    def to_doc(self) -> dict[str, Any]:
        return {"observed_at": self.observed_at, "ids": list(self.ids)}

    @classmethod
    def from_doc(cls, doc: Any, where: str) -> Deletions:
        """Raises ``ValueError`` (the callers turn it into their contract error)."""
        if not isinstance(doc, Mapping):
            raise ValueError(f"{where}: not an object")
        return cls(_observed_at(doc, where), _ids(doc.get("ids"), f"{where}.ids"))


@dataclass(frozen=True)
class CompareState:
    """Where the last comparison left its per-table state (``lake.keys.compare_state_key``).

    Every manifest after a comparison carries it forward (like the watermarks), so the next
    comparison finds it in the last manifest; ``run_seq`` is the comparison's run: the
    runs after it are what the lake learnt since.
    """

    run_seq: int
    tables: dict[str, str]

    def to_doc(self) -> dict[str, Any]:
        return {"run_seq": self.run_seq, "tables": dict(sorted(self.tables.items()))}

    @classmethod
    def from_doc(cls, doc: Any, where: str) -> CompareState | None:
        """None for an absent state; raises ``ValueError`` on a malformed one."""
        if doc is None:
            return None
        if (
            not isinstance(doc, Mapping)
            or not isinstance(doc.get("run_seq"), int)
            or not isinstance(doc.get("tables"), dict)
        ):
            raise ValueError(f"{where}: compare_state must be {{run_seq, tables}}, not {doc!r}")
        return cls(doc["run_seq"], {str(k): str(v) for k, v in doc["tables"].items()})
