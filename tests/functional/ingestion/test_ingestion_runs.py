"""First run, empty run, look-back dedup, rows on the watermark's exact timestamp, SSM state."""

from __future__ import annotations

import gzip
import hashlib
import json
from datetime import timedelta

import pytest

from common.source_tables import SOURCE_TABLES


def test_first_run_on_empty_state_is_a_full_snapshot(ingest) -> None:
    old, recent = ingest.clock.now - timedelta(days=400), ingest.clock.now - timedelta(minutes=1)
    for i in range(30):  # old rows go through COPY, recent ones through the cursor
        ingest.add_currency(f"C{i:02d}", old + timedelta(seconds=i))
    for i in range(5):
        ingest.add_department(f"dept {i}", recent)
    ingest.admin.run(
        "INSERT INTO _prisma_migrations (id, checksum, migration_name) VALUES ('m1', 'x', '20240101_init')"
    )

    result = ingest.run()

    assert result.status == "committed"
    assert result.run_seq == 1
    (manifest,) = ingest.manifests()
    assert set(manifest["tables"]) == set(SOURCE_TABLES), "every allow-listed table, never _prisma_migrations"
    assert ingest.committed_versions("currency") == ingest.source_versions("currency")
    assert ingest.committed_versions("department") == ingest.source_versions("department")
    assert not any("prisma" in key for key in ingest.key_versions())
    run_start = "2026-03-01T12:00:00.000"
    for name, entry in manifest["tables"].items():
        assert (entry["window_start"], entry["window_end"]) == (None, run_start), name
        if entry["rows"]:
            body = ingest.store.get_bytes(entry["key"])
            assert entry["sha256"] == hashlib.sha256(body).hexdigest()
            assert len(gzip.decompress(body).splitlines()) == entry["rows"]
            assert entry["key"] == f"data/{name}/2026-03-01/0000000001-{manifest['attempt']}.jsonl.gz"
        else:
            assert entry["key"] is None
            assert entry["sha256"] is None
    assert manifest["watermarks"] == dict.fromkeys(sorted(SOURCE_TABLES), run_start)
    assert ingest.ssm("last_run_seq") == "1"
    assert json.loads(ingest.ssm("watermarks")) == manifest["watermarks"]
    rows = ingest.committed_rows("currency")
    assert [r["last_updated"] for r in rows] == sorted(r["last_updated"] for r in rows), "ordered by last_updated"


def test_a_run_without_changes_commits_an_empty_manifest_and_advances_watermarks(ingest) -> None:
    ingest.add_currency("GBP", ingest.clock.now - timedelta(hours=1))
    ingest.run()
    ingest.clock.advance(minutes=10)

    result = ingest.run()

    assert result.status == "committed"
    assert result.run_seq == 2
    assert result.total_rows == 0
    manifest = ingest.manifests()[-1]
    assert manifest["previous_run_seq"] == 1
    assert all(e["key"] is None and e["rows"] == 0 and e["sha256"] is None for e in manifest["tables"].values())
    assert set(manifest["watermarks"].values()) == {"2026-03-01T12:10:00.000"}
    assert ingest.ssm("last_run_seq") == "2"
    assert not any(k.startswith("data/") and "0000000002-" in k for k in ingest.key_versions())


def test_rows_re_read_in_the_look_back_are_not_emitted_twice(ingest) -> None:
    t = ingest.clock.now
    a = ingest.add_currency("AAA", t - timedelta(minutes=3))
    ingest.run()
    ingest.clock.advance(minutes=5)
    ingest.touch("currency", a, t + timedelta(minutes=1))  # a new version inside the next window
    b = ingest.add_currency("BBB", t + timedelta(minutes=2))

    second = ingest.run()

    assert second.dropped["currency"] == 0, "the old version is gone from the source; nothing to drop"
    ingest.clock.advance(minutes=5)
    third = ingest.run()  # re-reads [12:05 - 15 min, 12:10): both versions of this window are seen
    assert third.rows["currency"] == 0
    assert third.dropped["currency"] == 2
    versions = ingest.committed_versions("currency")
    assert versions == {
        (a, "2026-03-01T11:57:00.000"): 1,
        (a, "2026-03-01T12:01:00.000"): 1,
        (b, "2026-03-01T12:02:00.000"): 1,
    }


@pytest.mark.parametrize("lookback_s", [900, 0], ids=["lookback", "no-lookback"])
def test_rows_sharing_the_watermarks_exact_timestamp_are_neither_lost_nor_duplicated(ingest, lookback_s) -> None:
    lookback = timedelta(seconds=lookback_s)  # without look-back the lower bound is the watermark itself
    watermark = ingest.clock.now  # the first run's start, which becomes the watermark
    for i in range(40):
        ingest.add_currency(f"E{i:02d}", watermark)  # exactly at the bound: excluded by run 1 (<)
        ingest.add_currency(f"B{i:02d}", watermark - timedelta(milliseconds=1))  # just below: included

    first = ingest.run(lookback=lookback)
    assert first.rows["currency"] == 40
    assert {r["last_updated"] for r in ingest.committed_rows("currency")} == {"2026-03-01T11:59:59.999"}

    ingest.clock.advance(minutes=5)
    second = ingest.run(lookback=lookback)  # >= on the lower bound picks the 40 at the watermark up, once
    assert second.rows["currency"] == 40
    ingest.clock.advance(minutes=5)
    ingest.run(lookback=lookback)
    versions = ingest.committed_versions("currency")
    assert versions == ingest.source_versions("currency")
    assert set(versions.values()) == {1}


def test_tables_not_configured_keep_their_watermark(ingest) -> None:
    from common.source_tables import resolve_tables

    ingest.run()
    ingest.clock.advance(minutes=5)
    ingest.run(tables=resolve_tables("currency,department"))
    manifest = ingest.manifests()[-1]
    assert set(manifest["tables"]) == {"currency", "department"}
    assert manifest["watermarks"]["currency"] == "2026-03-01T12:05:00.000"
    assert manifest["watermarks"]["sales_order"] == "2026-03-01T12:00:00.000"
