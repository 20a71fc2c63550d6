"""The warehouse migrations' file names: one number each, applied in that order."""

from __future__ import annotations

from collections import Counter

from load.schema import discover


def test_no_two_migrations_share_a_number() -> None:
    # Versions are the file stems, so two "013_*" files would both apply, in name order:
    # the helper that lands second must take the next free number instead.
    numbers = Counter(m.version[:3] for m in discover())
    assert [n for n, count in numbers.items() if count > 1] == []


def test_the_numbers_run_without_gaps_from_001() -> None:
    numbers = [int(m.version[:3]) for m in discover()]
    assert numbers == list(range(1, len(numbers) + 1))
