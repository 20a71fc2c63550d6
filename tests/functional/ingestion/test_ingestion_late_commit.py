"""A transaction that commits after a run, with a last_updated older than that run's start."""

from __future__ import annotations

from datetime import timedelta


def test_a_late_committing_transaction_is_picked_up_exactly_once(ingest) -> None:
    t = ingest.clock.now
    existing = ingest.add_currency("GBP", t - timedelta(hours=2))
    late = ingest.second_connection()
    try:
        late.run("BEGIN")
        # The application stamps rows when its transaction starts, before the run ...
        inserted = ingest.add_currency("LAT", t - timedelta(minutes=2), con=late)
        ingest.touch("currency", existing, t - timedelta(minutes=1), con=late)

        first = ingest.run()  # ... which cannot see them: they are not committed yet
        assert first.rows["currency"] == 1
        late.run("COMMIT")  # ... and commits after the run, behind the new watermark
    finally:
        late.close()

    ingest.clock.advance(minutes=5)
    second = ingest.run()
    assert second.rows["currency"] == 2, "the look-back re-reads [watermark - 15 min, ...) and finds both"
    ingest.clock.advance(minutes=5)
    third = ingest.run()
    assert third.rows["currency"] == 0

    assert ingest.committed_versions("currency") == {
        (existing, "2026-03-01T10:00:00.000"): 1,
        (existing, "2026-03-01T11:59:00.000"): 1,
        (inserted, "2026-03-01T11:58:00.000"): 1,
    }
