"""The comparison of the source with the lake (issue 14; SPEC §2, §3 "Fresh") against real
PostgreSQL over TLS and moto: deletions and in-place changes are found and become an
ordinary run; a pending incremental change is left alone; a repeated comparison finds
nothing; a crash or an unreadable table commits nothing; the mass-delete guard holds."""

from __future__ import annotations

from datetime import timedelta

import pytest

from common.source_tables import SOURCE_TABLES
from ingestion import compare_source
from ingestion.compare import DeleteGuard
from ingestion.errors import MassDeletionHeldError, SourceQueryError
from lake.manifest import read_manifest

CURRENCY = (SOURCE_TABLES["currency"],)


def _currencies(ingest, n: int) -> list[int]:
    old = ingest.clock.now - timedelta(days=10)
    return [ingest.add_currency(f"C{i:02d}", old + timedelta(seconds=i)) for i in range(n)]


def test_deletion_and_in_place_change_become_one_ordinary_run(ingest) -> None:
    ids = _currencies(ingest, 40)
    assert ingest.run().status == "committed"
    first = ingest.compare()  # the first comparison checks every line the lake holds: all equal
    assert (first.status, first.deleted, first.changed_in_place) == ("committed", 0, 0)

    ingest.admin.run("DELETE FROM currency WHERE currency_id = :i", i=ids[3])
    ingest.admin.run("UPDATE currency SET currency_code = 'FIX' WHERE currency_id = :i", i=ids[5])  # same last_updated
    found = ingest.compare()

    assert found.run_seq == 3
    manifest = read_manifest(ingest.store, 3)
    changes = manifest.changes["currency"]
    assert (changes.deleted, changes.changed_in_place) == ((ids[3],), (ids[5],))
    assert changes.observed_at == found.observed_at
    rows = ingest.rows(manifest.to_doc(), "currency")
    assert [(r["currency_id"], r["currency_code"]) for r in rows] == [(ids[5], "FIX")]
    assert manifest.watermarks == read_manifest(ingest.store, 1).watermarks  # the incremental path is undisturbed
    assert manifest.recent_keys == read_manifest(ingest.store, 1).recent_keys
    assert set(manifest.compare_state.tables) == set(SOURCE_TABLES)

    again = ingest.compare()  # the same data again: nothing new
    assert (again.deleted, again.changed_in_place) == (0, 0)
    assert "changes" not in ingest.manifests()[-1]


def test_a_row_changed_in_place_after_its_incremental_run_is_found(ingest) -> None:
    _currencies(ingest, 5)
    ingest.run()
    ingest.compare()
    ingest.clock.advance(minutes=5)
    new = ingest.add_currency("NEW", ingest.clock.now - timedelta(seconds=1))
    ingest.run()  # carried by an incremental run after the last comparison: the lake knows its line
    ingest.admin.run("UPDATE currency SET currency_code = 'NEX' WHERE currency_id = :i", i=new)
    found = ingest.compare()
    assert found.tables["currency"].changed_in_place == (new,)


def test_a_pending_incremental_change_is_left_to_the_incremental_path(ingest) -> None:
    ids = _currencies(ingest, 5)
    ingest.run()
    ingest.compare()
    ingest.clock.advance(minutes=5)
    ingest.touch("currency", ids[0], ingest.clock.now - timedelta(seconds=1))  # last_updated moved, not ingested yet
    ingest.admin.run("UPDATE currency SET currency_code = 'MOV' WHERE currency_id = :i", i=ids[0])
    found = ingest.compare()
    assert (found.deleted, found.changed_in_place) == (0, 0)
    ingest.clock.advance(minutes=1)
    ingest.run()
    assert [r["currency_code"] for r in ingest.committed_rows("currency") if r["currency_id"] == ids[0]] == [
        "C00",
        "MOV",
    ]  # once, by the incremental run
    assert ingest.compare().changed_in_place == 0


def test_a_deleted_and_reinserted_id_is_a_change_not_a_deletion(ingest) -> None:
    ids = _currencies(ingest, 30)
    ingest.run()
    ingest.compare()
    stamp = ingest.admin.run("SELECT last_updated FROM currency WHERE currency_id = :i", i=ids[2])[0][0]
    ingest.admin.run("DELETE FROM currency WHERE currency_id = :i", i=ids[2])
    ingest.admin.run(
        "INSERT INTO currency (currency_id, currency_code, created_at, last_updated) VALUES (:i, 'RE', :t, :t)",
        i=ids[2],
        t=stamp,
    )
    found = ingest.compare()
    assert (found.tables["currency"].deleted, found.tables["currency"].changed_in_place) == ((), (ids[2],))


def test_mass_deletion_is_held_until_an_operator_applies_it(ingest) -> None:
    ids = _currencies(ingest, 40)
    ingest.run()
    ingest.compare()
    ingest.admin.run("DELETE FROM currency WHERE currency_id = ANY(:ids)", ids=ids[:3])  # 7.5 % of the table
    with pytest.raises(MassDeletionHeldError, match="3 of 40 currency rows"):
        ingest.compare()
    assert len(ingest.manifests()) == 2, "nothing committed"
    applied = ingest.compare(guard=DeleteGuard(allow=True))
    assert sorted(applied.tables["currency"].deleted) == sorted(ids[:3])


def test_a_comparison_that_dies_half_way_commits_nothing_and_the_next_succeeds(ingest, faults) -> None:
    ids = _currencies(ingest, 40)
    ingest.run()
    ingest.compare()
    ingest.admin.run("DELETE FROM currency WHERE currency_id = :i", i=ids[0])
    crashing = faults.store(ingest.store, crash_before=lambda key, n: key.startswith("state/compare/staff/"))
    with pytest.raises(faults.error):
        ingest.compare(store=crashing)
    assert len(ingest.manifests()) == 2
    found = ingest.compare()
    assert found.tables["currency"].deleted == (ids[0],)


def test_a_table_the_pipeline_cannot_read_fails_the_comparison_and_deletes_nothing(ingest, pipeline) -> None:
    _currencies(ingest, 10)
    ingest.run()
    ingest.compare()
    role = pipeline.source.credentials.username
    ingest.admin.run(f"REVOKE SELECT ON currency FROM {role}")
    try:
        with pytest.raises(SourceQueryError, match="could not read the source"):
            ingest.compare()
    finally:
        ingest.admin.run(f"GRANT SELECT ON currency TO {role}")
    assert len(ingest.manifests()) == 2
    assert ingest.compare().deleted == 0


def test_a_table_of_many_id_ranges_is_compared_range_by_range(ingest, monkeypatch) -> None:
    """Ranges of 4 ids (each read while the one before is diffed): what is found is what one range finds."""
    ids = _currencies(ingest, 40)
    ingest.run()
    ingest.compare()
    monkeypatch.setattr(compare_source, "RANGE_IDS", 4)
    assert len(compare_source.ranges((ids[0], ids[-1]), None)) >= 10
    gone = [ids[0], ids[4], ids[5], ids[-1]]  # the first and last id, and both ends of a range
    ingest.admin.run("DELETE FROM currency WHERE currency_id = ANY(:ids)", ids=gone)
    ingest.admin.run("UPDATE currency SET currency_code = 'FIX' WHERE currency_id = ANY(:ids)", ids=[ids[7], ids[20]])
    found = ingest.compare(guard=DeleteGuard(allow=True))
    assert (found.tables["currency"].deleted, found.tables["currency"].changed_in_place) == (
        tuple(sorted(gone)),
        (ids[7], ids[20]),
    )
    assert found.source_rows["currency"] == 36
    again = ingest.compare()
    assert (again.deleted, again.changed_in_place, again.source_rows["currency"]) == (0, 0, 36)


def test_the_first_comparison_takes_each_rows_latest_carried_version(ingest) -> None:
    """No state yet: every run's lines are the lake side, the latest version of an id wins."""
    ids = _currencies(ingest, 5)
    ingest.run()
    ingest.clock.advance(minutes=5)
    ingest.touch("currency", ids[1], ingest.clock.now - timedelta(seconds=1))
    ingest.admin.run("UPDATE currency SET currency_code = 'NEW' WHERE currency_id = :i", i=ids[1])
    ingest.run()  # run 2 carries ids[1] again, later
    ingest.admin.run("UPDATE currency SET currency_code = 'FIX' WHERE currency_id = :i", i=ids[1])  # same last_updated
    found = ingest.compare()
    assert (found.tables["currency"].deleted, found.tables["currency"].changed_in_place) == ((), (ids[1],))
    assert ingest.compare().changed_in_place == 0
