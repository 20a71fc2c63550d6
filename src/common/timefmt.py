"""How a moment is written in the lake's documents and in AWS event payloads."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_stamp(moment: datetime) -> str:
    """``2026-11-22T10:00:00.000Z``: ISO 8601 in UTC, milliseconds (truncated), a ``Z``; naive means UTC."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"
