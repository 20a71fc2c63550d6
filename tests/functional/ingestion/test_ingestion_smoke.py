"""Smoke: first run on empty state, then an empty run."""

from __future__ import annotations


def test_first_run_then_empty_run(ingest) -> None:
    ingest.add_currency("GBP", ingest.clock.now.replace(hour=11))
    first = ingest.run()
    assert first.status == "committed"
    assert first.rows["currency"] == 1
    ingest.clock.advance(minutes=5)
    second = ingest.run()
    assert second.run_seq == 2
    assert second.total_rows == 0
    print(ingest.manifests())
    print(ingest.key_versions())
