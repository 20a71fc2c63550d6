"""Rows stamped in the future (ingestion.future_rows): counted and named every run, ingested when their time comes."""

from __future__ import annotations

from datetime import timedelta

from ingestion.future_rows import MAX_KEYS


def test_rows_beyond_the_tolerance_are_counted_and_named_then_ingested_in_time(ingest) -> None:
    t0 = ingest.clock.now
    skewed = ingest.add_currency("GBP", t0 + timedelta(minutes=2))  # clock skew: within the 5-minute tolerance
    ahead = ingest.add_currency("EUR", t0 + timedelta(hours=1))
    far = [ingest.add_currency("USD", t0.replace(year=2099)) for _ in range(MAX_KEYS + 2)]

    first = ingest.run()

    assert first.rows["currency"] == 0
    report = first.future_rows["currency"]
    assert report.rows == 1 + len(far)  # the count is exact, the keys are the earliest few
    assert report.keys[0] == (ahead, "2026-03-01T13:00:00.000")
    assert [pk for pk, _ in report.keys[1:]] == far[: MAX_KEYS - 1]
    assert skewed not in [pk for pk, _ in report.keys]
    (manifest,) = ingest.manifests()
    assert manifest["future_rows"] == {"currency": report.to_doc()}
    assert set(manifest["future_rows"]) == {"currency"}

    ingest.clock.advance(hours=2)
    second = ingest.run()
    assert sorted(r["currency_id"] for r in ingest.rows(ingest.manifests()[-1], "currency")) == [skewed, ahead]
    assert second.future_rows["currency"].rows == len(far)


def test_a_tolerance_of_zero_reports_every_row_ahead_of_the_run(ingest) -> None:
    skewed = ingest.add_currency("GBP", ingest.clock.now + timedelta(seconds=1))
    result = ingest.run(future_tolerance=timedelta(0))
    assert [pk for pk, _ in result.future_rows["currency"].keys] == [skewed]
    assert ingest.run(future_tolerance=timedelta(seconds=2)).future_rows == {}
