"""The comparison's rules on one id range (ingestion.compare.diff_range) and the mass-delete guard."""

from __future__ import annotations

import pyarrow as pa
import pytest

from ingestion.compare import DeleteGuard, Findings, diff_range
from ingestion.compare_lake import CARRIED_SCHEMA, StateFile, line_digest


def _state(rows: list[tuple[int, int, int]]) -> pa.Table:
    return pa.Table.from_pylist([{"id": i, "lu": lu, "hash": h} for i, lu, h in rows], schema=StateFile.SCHEMA)


def _carried(rows: list[tuple[int, int, bytes]]) -> pa.Table:
    return pa.Table.from_pylist([{"id": i, "lu": lu, "digest": d} for i, lu, d in rows], schema=CARRIED_SCHEMA)


def test_each_rule_of_the_comparison() -> None:
    source = _state([(1, 10, 101), (2, 10, -7), (3, 20, 103), (5, 10, 105), (6, 30, 106)])
    state = _state([(1, 10, 101), (2, 10, 102), (3, 10, 103), (4, 10, 104), (5, 10, 105), (6, 10, 106)])
    # 5 and 6 were carried since the last comparison: their lines decide.
    carried = _carried([(5, 10, line_digest(b"{}\n")), (6, 30, line_digest(b"{}\n")), (7, 40, line_digest(b"x"))])
    found = Findings()
    diff_range(source, state, carried, found)
    assert sorted(found.deleted) == [4, 7]  # 7: carried, then gone before this comparison
    assert found.changed == [2]  # same last_updated, other hash
    assert found.unverified_ids().tolist() == [5, 6]  # same last_updated as carried: compare the rendered line
    assert 3 not in found.changed  # last_updated moved: the incremental path's
    assert (found.source_rows, found.lake_rows) == (5, 7)


def test_an_empty_lake_finds_nothing_deleted() -> None:
    found = Findings()
    diff_range(_state([(1, 10, 1)]), _state([]), _carried([]), found)
    assert (found.deleted, found.changed, found.unverified) == ([], [], [])


@pytest.mark.parametrize(
    ("deleted", "rows", "held"), [(1, 100, False), (5, 100, False), (6, 100, True), (1001, 10**6, True)]
)
def test_the_mass_delete_guard(deleted: int, rows: int, held: bool) -> None:
    guard = DeleteGuard()
    if held:
        with pytest.raises(Exception, match="more than the guard allows"):
            guard.check("sales_order", deleted, rows)
    else:
        guard.check("sales_order", deleted, rows)
    DeleteGuard(allow=True).check("sales_order", deleted, rows)


def test_the_unverified_keep_each_ids_own_line_digest() -> None:
    """The lake's line digest goes with its id, whichever rows of the range are unverified."""
    source = _state([(i, 10, i) for i in range(1, 9)])
    carried = _carried([(i, 10, line_digest(str(i).encode())) for i in (2, 3, 5, 8)] + [(9, 10, line_digest(b"9"))])
    found = Findings()
    diff_range(source, _state([]), carried, found)
    assert found.unverified_ids().tolist() == [2, 3, 5, 8]
    assert [bytes(d) for d in found.unverified_digests()] == [line_digest(str(i).encode()) for i in (2, 3, 5, 8)]
    assert found.deleted == [9]
