"""Window bounds and the next watermark: pure functions, literal values."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone

import pytest

from ingestion.errors import WatermarkError
from ingestion.watermarks import (
    Segment,
    SegmentKind,
    format_watermark,
    next_watermark,
    parse_watermark,
    validate_watermarks,
    window_for,
)

L = timedelta(minutes=15)


def test_format_truncates_to_milliseconds_and_converts_to_utc() -> None:
    assert format_watermark(datetime(2026, 3, 1, 12, 0, 0, 999999)) == "2026-03-01T12:00:00.999"
    plus_two = timezone(timedelta(hours=2))
    assert format_watermark(datetime(2026, 3, 1, 14, 0, 0, 1000, tzinfo=plus_two)) == "2026-03-01T12:00:00.001"


@pytest.mark.parametrize("bad", ["2026-03-01 12:00:00.000", "2026-03-01T12:00:00", "2026-13-01T12:00:00.000", 5, None])
def test_parse_rejects_anything_but_the_watermark_format(bad) -> None:
    with pytest.raises(WatermarkError):
        parse_watermark(bad)


def test_validate_watermarks_checks_every_value() -> None:
    assert validate_watermarks({"currency": "2026-03-01T12:00:00.000"}) == {"currency": "2026-03-01T12:00:00.000"}
    with pytest.raises(WatermarkError):
        validate_watermarks({"currency": "yesterday"})
    with pytest.raises(WatermarkError):
        validate_watermarks(["currency"])


def test_next_watermark_is_the_run_start_but_never_backwards() -> None:
    start = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert next_watermark(None, start) == "2026-03-01T12:00:00.000"
    assert next_watermark("2026-03-01T11:00:00.000", start) == "2026-03-01T12:00:00.000"
    assert next_watermark("2026-03-01T12:30:00.000", start) == "2026-03-01T12:30:00.000"


def test_first_window_is_everything_below_the_run_start() -> None:
    w = window_for(None, datetime(2026, 3, 1, 12, 0), L)
    assert (w.start, w.end, w.recent_from) == (None, "2026-03-01T12:00:00.000", "2026-03-01T11:45:00.000")
    assert w.segments() == (
        Segment(None, "2026-03-01T11:45:00.000", SegmentKind.COPY),
        Segment("2026-03-01T11:45:00.000", "2026-03-01T12:00:00.000", SegmentKind.ROWS),
    )
    assert not w.needs_dedup("2026-03-01T11:50:00.000")


def test_steady_state_window_is_one_per_row_segment_with_look_back() -> None:
    w = window_for("2026-03-01T11:55:00.000", datetime(2026, 3, 1, 12, 0), L)
    assert w.start == "2026-03-01T11:40:00.000"
    assert w.segments() == (Segment("2026-03-01T11:40:00.000", "2026-03-01T12:00:00.000", SegmentKind.ROWS),)
    assert w.needs_dedup("2026-03-01T11:54:59.999")
    assert not w.needs_dedup("2026-03-01T11:55:00.000"), ">= on the lower bound: the watermark itself is new"


def test_a_long_pause_reads_the_middle_by_copy() -> None:
    w = window_for("2026-03-01T10:00:00.000", datetime(2026, 3, 1, 12, 0), L)
    assert w.segments() == (
        Segment("2026-03-01T09:45:00.000", "2026-03-01T10:00:00.000", SegmentKind.ROWS),
        Segment("2026-03-01T10:00:00.000", "2026-03-01T11:45:00.000", SegmentKind.COPY),
        Segment("2026-03-01T11:45:00.000", "2026-03-01T12:00:00.000", SegmentKind.ROWS),
    )


def test_segments_tile_the_window_without_overlap() -> None:
    for previous in (None, "2026-03-01T11:59:59.999", "2026-03-01T11:45:00.000", "2026-02-01T00:00:00.000"):
        w = window_for(previous, datetime(2026, 3, 1, 12, 0), L)
        parts = w.segments()
        assert parts[0].lower == w.start
        assert parts[-1].upper == w.end
        assert all(a.upper == b.lower for a, b in itertools.pairwise(parts))


def test_a_clock_behind_the_watermark_does_not_move_it_back() -> None:
    w = window_for("2026-03-01T12:10:00.000", datetime(2026, 3, 1, 12, 0), L)
    assert w.end == "2026-03-01T12:10:00.000"


def test_lookback_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="negative"):
        window_for(None, datetime(2026, 3, 1), timedelta(seconds=-1))
