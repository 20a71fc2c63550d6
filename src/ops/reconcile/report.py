"""The verdict of a reconciliation: differences (readable), per-table counts, what was skipped and why."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

DEFAULT_MAX_SKIPPED_SHARE = 0.01
# Differences and skipped rows listed per table; beyond that they are counted only, so a
# warehouse that differs everywhere cannot make the report itself grow without bound.
LISTED_PER_TABLE = 1000


@dataclass(frozen=True)
class Difference:
    """One way the warehouse differs from its derivation from the source."""

    table: str
    key: str
    column: str
    expected: Any
    actual: Any

    def describe(self) -> str:
        return f"{self.table} [{self.key}] {self.column}: expected {self.expected!r}, actual {self.actual!r}"


@dataclass(frozen=True)
class TableCounts:
    """How much of one table's source was checked, and how much skipped as bad input."""

    source_rows: int
    checked: int
    skipped: int

    @property
    def skipped_share(self) -> float:
        return self.skipped / self.source_rows if self.source_rows else 0.0


@dataclass
class ReconcileReport:
    """The verdict: differences, per-table counts, bad source rows skipped, source columns off the contract.

    ``differences`` and ``skipped_bad_input`` list at most ``LISTED_PER_TABLE`` entries per
    table; ``difference_counts`` and ``counts`` hold the full numbers.
    """

    differences: list[Difference] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)
    skipped_bad_input: list[str] = field(default_factory=list)
    counts: dict[str, TableCounts] = field(default_factory=dict)
    type_mismatches: list[str] = field(default_factory=list)
    max_skipped_share: float = DEFAULT_MAX_SKIPPED_SHARE
    difference_counts: Counter[str] = field(default_factory=Counter)
    _skips_listed: Counter[str] = field(default_factory=Counter, repr=False)

    def add_differences(self, table: str, diffs: list[Difference]) -> None:
        room = max(0, LISTED_PER_TABLE - self.difference_counts[table])
        self.differences += diffs[:room]
        self.difference_counts[table] += len(diffs)

    def add_skipped(self, table: str, line: str) -> None:
        if self._skips_listed[table] < LISTED_PER_TABLE:
            self.skipped_bad_input.append(line)
        self._skips_listed[table] += 1

    def count(self, table: str, source_rows: int, skipped: int) -> None:
        self.counts[table] = TableCounts(source_rows, source_rows - skipped, skipped)
        self.checked[table] = source_rows - skipped

    @property
    def mostly_skipped(self) -> dict[str, TableCounts]:
        """Tables whose skipped share is above ``max_skipped_share``: too little was checked to pass."""
        return {t: c for t, c in self.counts.items() if c.skipped_share > self.max_skipped_share}

    @property
    def ok(self) -> bool:
        return not self.differences and not self.type_mismatches and not self.mostly_skipped

    def summary(self) -> str:
        if self.ok:
            total = sum(self.checked.values())
            skipped = sum(c.skipped for c in self.counts.values())
            return (
                f"warehouse matches the source ({total} rows checked in {len(self.checked)} tables,"
                f" {skipped} skipped as bad input)"
            )
        problems = []
        if self.differences:
            tables = sorted(t for t, n in self.difference_counts.items() if n)
            problems.append(f"{sum(self.difference_counts.values())} differences in {', '.join(tables)}")
        problems += self.type_mismatches
        limit = f"{self.max_skipped_share:.1%}"
        problems += [
            f"{t}: {c.skipped} of {c.source_rows} source rows skipped as bad input ({c.skipped_share:.1%} > {limit})"
            for t, c in sorted(self.mostly_skipped.items())
        ]
        return "; ".join(problems)
