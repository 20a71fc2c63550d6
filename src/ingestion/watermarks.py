"""Watermarks and extraction windows: pure functions over plain values (no I/O).

A watermark is the exclusive upper bound of the last committed extraction of a table,
as text ``YYYY-MM-DDTHH:MM:SS.mmm`` (UTC, millisecond precision like the source's
``timestamp(3)`` columns). Fixed-width text compares like the timestamp it encodes,
so bounds can be compared as strings.

A run reads ``last_updated >= watermark - lookback AND last_updated < run_start``.
``>=`` on the lower bound because the previous run excluded a row exactly at its
upper bound (``<``); the look-back part ``[watermark - lookback, watermark)`` re-reads
rows so that a transaction which committed late with an older ``last_updated`` is
still picked up; rows in it that the previous run already emitted are dropped using
its recent-keys set (``ingestion.recent_keys``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from ingestion.errors import WatermarkError

_WATERMARK = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}$")


def to_source_time(moment: datetime) -> datetime:
    """``moment`` as a naive UTC datetime truncated to milliseconds (the source's precision).

    Truncating (not rounding) keeps ``run_start`` at or before the real instant, so a
    row written in the same millisecond is never put behind the watermark.
    """
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.replace(microsecond=moment.microsecond - moment.microsecond % 1000)


def format_watermark(moment: datetime) -> str:
    """``moment`` as watermark text, e.g. ``"2024-01-02T03:04:05.123"``."""
    moment = to_source_time(moment)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}"


def parse_watermark(text: object) -> datetime:
    """The naive UTC datetime of watermark text; WatermarkError if it is not one."""
    if not isinstance(text, str) or not _WATERMARK.match(text):
        raise WatermarkError(f"not a watermark (YYYY-MM-DDTHH:MM:SS.mmm): {text!r}")
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f")
    except ValueError as exc:
        raise WatermarkError(f"not a valid timestamp: {text!r}") from exc


def validate_watermarks(doc: object) -> dict[str, str]:
    """Check a ``{table: watermark}`` document (from SSM or a manifest) and return it."""
    if not isinstance(doc, dict):
        raise WatermarkError(f"watermarks must be a JSON object, got {type(doc).__name__}")
    for table, value in doc.items():
        if not isinstance(table, str):
            raise WatermarkError(f"watermark table name must be text, got {table!r}")
        parse_watermark(value)
    return dict(doc)


def next_watermark(previous: str | None, run_started_at: datetime) -> str:
    """The watermark after a successful run: the run start, but never backwards.

    Capped at the run start (rows stamped later are left to the next run); never below
    ``previous`` so that a Lambda whose clock lags the last run cannot move it back.
    """
    candidate = format_watermark(run_started_at)
    if previous is not None and parse_watermark(previous) > parse_watermark(candidate):
        return previous
    return candidate


class SegmentKind(StrEnum):
    """How a part of the window is read."""

    COPY = "copy"  # bulk, streamed by COPY: no row needs looking at in Python
    ROWS = "rows"  # COPY too, each rendered block filtered in Python: look-back dedup and/or recent keys


@dataclass(frozen=True)
class Segment:
    """A half-open ``[lower, upper)`` range of ``last_updated``; ``lower=None`` is -infinity."""

    lower: str | None
    upper: str
    kind: SegmentKind


@dataclass(frozen=True)
class Window:
    """What one run reads of one table.

    Attributes
    ----------
    previous
        The watermark before the run (None: never extracted, so a full snapshot).
    start
        Inclusive lower bound, ``previous - lookback`` (None: -infinity).
    end
        Exclusive upper bound, which becomes the new watermark.
    recent_from
        ``end - lookback``: emitted rows at or after it go into the new recent-keys set,
        because the next run's look-back part re-reads exactly ``[end - lookback, end)``.
    """

    previous: str | None
    start: str | None
    end: str
    recent_from: str

    def needs_dedup(self, last_updated: str) -> bool:
        """Whether a row lies in the look-back part, which the previous run has already read."""
        return self.previous is not None and last_updated < self.previous

    def segments(self) -> tuple[Segment, ...]:
        """The window split so that only the parts that need per-row work are read per row.

        Rows in ``[start, previous)`` need the dedup check and rows in
        ``[recent_from, end)`` need their keys recorded; everything between is bulk and
        goes through COPY untouched. In steady state (schedule interval < lookback) the
        bulk part is empty; on a first run it is the whole table but the last minutes.
        """
        parts: list[Segment] = []
        if self.previous is None:
            parts.append(Segment(None, self.recent_from, SegmentKind.COPY))
            parts.append(Segment(self.recent_from, self.end, SegmentKind.ROWS))
        elif self.recent_from <= self.previous:
            parts.append(Segment(self.start, self.end, SegmentKind.ROWS))
        else:
            parts.append(Segment(self.start, self.previous, SegmentKind.ROWS))
            parts.append(Segment(self.previous, self.recent_from, SegmentKind.COPY))
            parts.append(Segment(self.recent_from, self.end, SegmentKind.ROWS))
        return tuple(p for p in parts if p.lower is None or p.lower < p.upper)


def window_for(previous: str | None, run_started_at: datetime, lookback: timedelta) -> Window:
    """The extraction window of a table whose watermark is ``previous``.

    Parameters
    ----------
    previous
        The table's watermark, or None if it was never extracted.
    run_started_at
        When the run started (any timezone; naive means UTC).
    lookback
        How far below the watermark to re-read for late commits (>= 0).

    Returns
    -------
    Window
    """
    if lookback < timedelta(0):
        raise ValueError(f"lookback must not be negative, got {lookback}")
    end = next_watermark(previous, run_started_at)
    start = None if previous is None else format_watermark(parse_watermark(previous) - lookback)
    recent_from = format_watermark(parse_watermark(end) - lookback)
    return Window(previous=previous, start=start, end=end, recent_from=recent_from)
