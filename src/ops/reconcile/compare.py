"""Expected against actual rows, column by column (pure: no database)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from ops.reconcile.report import Difference


def _same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, Decimal) or isinstance(actual, Decimal):
        try:
            return Decimal(str(expected)) == Decimal(str(actual))
        except ArithmeticError:
            return False
    if isinstance(expected, bool) != isinstance(actual, bool):
        return False  # True == 1 in Python; a boolean column must hold a boolean
    return bool(expected == actual)


def compare_rows(
    table: str,
    key_column: str,
    columns: Sequence[str],
    expected: dict[Any, dict[str, Any]],
    actual: dict[Any, dict[str, Any]],
) -> list[Difference]:
    """Column-by-column differences between expected and actual rows, keyed by id."""
    diffs: list[Difference] = []
    for key in sorted(expected.keys() | actual.keys(), key=lambda k: (str(type(k)), k)):
        label = f"{key_column}={key}"
        if key not in actual:
            diffs.append(Difference(table, label, "<row>", "present", "missing"))
            continue
        if key not in expected:
            diffs.append(Difference(table, label, "<row>", "absent (not in source)", "present"))
            continue
        exp, act = expected[key], actual[key]
        for column in columns:
            e, a = exp.get(column), act.get(column)
            if not _same(e, a):
                diffs.append(Difference(table, label, column, e, a))
    return diffs
