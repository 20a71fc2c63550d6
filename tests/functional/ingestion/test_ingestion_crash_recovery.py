"""A crash at any point of a run, then new runs: nothing lost, nothing twice, nothing overwritten."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from ingestion.errors import StateError

TABLES = ("currency", "department", "design")


def _add_rows(ingest, tag: str, n: int = 3) -> None:
    now = ingest.clock.now
    for i in range(n):
        stamp = now - timedelta(minutes=2, seconds=i)
        ingest.add_currency(f"{tag}{i}", stamp)
        ingest.add_department(f"{tag} {i}", stamp)
        ingest.insert("design", design_name=f"{tag}{i}", file_location="/d", file_name="f.json",
                      created_at=stamp, last_updated=stamp)  # fmt: skip


def _assert_exactly_once_and_immutable(ingest, superseded: Counter | None = None) -> None:
    """Committed versions = the source's current rows + the versions later updates replaced, each once."""
    for table in TABLES:
        committed = ingest.committed_versions(table)
        expected = ingest.source_versions(table) + (superseded if table == "currency" and superseded else Counter())
        assert committed == expected, table
        assert set(committed.values()) == {1}, f"{table}: a version committed twice"
    assert set(ingest.key_versions().values()) == {1}, "an object was overwritten"
    seqs = [m["run_seq"] for m in ingest.manifests()]
    assert seqs == list(range(1, len(seqs) + 1))


CRASH_POINTS = {
    "before the first table object": ("store", lambda key, n: key.startswith("data/")),
    "after two table objects": ("store", lambda key, n: key.startswith("data/") and n == 2),
    "after the table objects, before recent keys": ("store", lambda key, n: key.startswith("state/")),
    "after recent keys, before the manifest": ("store", lambda key, n: key.startswith("runs/")),
    "after the manifest, before SSM": ("ssm", 0),
    "between the two SSM puts": ("ssm", 1),
}


@pytest.mark.parametrize("point", list(CRASH_POINTS))
def test_a_crash_at_any_point_loses_nothing_and_overwrites_nothing(ingest, faults, point) -> None:
    _add_rows(ingest, "a")
    ingest.run()
    ingest.clock.advance(minutes=5)
    _add_rows(ingest, "b")
    replaced = Counter(v for v in ingest.source_versions("currency") if v[0] == 1)
    ingest.touch("currency", 1, ingest.clock.now - timedelta(seconds=30))  # an update too

    kind, where = CRASH_POINTS[point]
    if kind == "store":
        crashing = {"store": faults.store(ingest.store, crash_before=where)}
    else:
        crashing = {"ssm": faults.ssm(ingest.pipeline.aws.ssm, crash_at=where)}
    # A failed SSM update after the commit is reported as StateError, chained to the cause.
    with pytest.raises(faults.error if kind == "store" else StateError):
        ingest.run(**crashing)

    committed_before = len(ingest.manifests())
    ingest.clock.advance(minutes=5)
    _add_rows(ingest, "c")
    retry = ingest.run()
    ingest.clock.advance(minutes=5)
    ingest.run()

    if kind == "ssm":  # the crashed run had committed: the retry rolled SSM forward over it
        assert committed_before == 2
        assert retry.rolled_forward == (2,)
        assert retry.run_seq == 3
    else:
        assert committed_before == 1
        assert retry.run_seq == 2
    assert ingest.ssm("last_run_seq") == str(retry.run_seq + 1)
    # The update's old version was committed by run 1 and its new one exactly once after.
    _assert_exactly_once_and_immutable(ingest, superseded=replaced)


def test_a_crashed_attempt_leaves_only_orphans_that_no_manifest_names(ingest, faults) -> None:
    _add_rows(ingest, "a")
    with pytest.raises(faults.error):
        ingest.run(store=faults.store(ingest.store, crash_before=lambda key, n: key.startswith("runs/")))
    orphans = {k for k in ingest.key_versions() if k.startswith("data/")}
    assert len(orphans) == 3
    ingest.run()
    named = {e["key"] for m in ingest.manifests() for e in m["tables"].values() if e["key"]}
    assert len(named) == 3
    assert not orphans & named, "the retry wrote new objects under a new attempt id"
    assert Counter(k.split("/")[1] for k in named) == Counter(TABLES)
