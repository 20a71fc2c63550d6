"""The look-back dedup set: carry-forward boundary and the stored form."""

from __future__ import annotations

import gzip

import pytest

from ingestion import recent_keys
from ingestion.errors import StateError


def test_carry_forward_keeps_keys_at_or_after_the_boundary() -> None:
    keys = {(1, "2026-03-01T11:44:59.999"), (2, "2026-03-01T11:45:00.000"), (3, "2026-03-01T11:59:00.000")}
    assert recent_keys.carry_forward(keys, "2026-03-01T11:45:00.000") == {
        (2, "2026-03-01T11:45:00.000"),
        (3, "2026-03-01T11:59:00.000"),
    }


def test_encode_decode_round_trip_and_determinism() -> None:
    keys = {"currency": {(2, "2026-03-01T11:50:00.000"), (1, "2026-03-01T11:50:00.000")}, "staff": set()}
    data = recent_keys.encode(keys)
    assert recent_keys.decode(data) == keys
    assert recent_keys.encode({"staff": set(), "currency": set(sorted(keys["currency"]))}) == data


@pytest.mark.parametrize(
    "data",
    [b"not gzip", gzip.compress(b"[]"), gzip.compress(b'{"format": 2, "tables": {}}')],
    ids=["not gzip", "a list", "format 2"],  # gzip bytes hold a timestamp: xdist workers must agree on ids
)
def test_decode_rejects_what_is_not_a_recent_keys_object(data) -> None:
    with pytest.raises(StateError):
        recent_keys.decode(data)
