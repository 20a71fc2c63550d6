"""The exchange-rate additions to the lake contracts: round trips, and documents without them read as before."""

from __future__ import annotations

from datetime import date

import pytest

from lake.commit_record import CommitRecord, ObjectRef
from lake.errors import CommitRecordError
from lake.fx_rates import DateState, FxState, RateLine, decode_lines, encode_lines
from lake.keys import KeyKind, fx_state_key, parse_key, table_key
from lake.manifest import FxRatesEntry, IngestManifest


def _manifest(fx: FxRatesEntry | None) -> IngestManifest:
    return IngestManifest(7, "abc", None, None, 6, {}, {"sales_order": "2026-01-01T00:00:00.000"}, None, fx_rates=fx)


def test_a_rates_manifest_round_trips_and_a_table_manifest_has_no_fx_key() -> None:
    fx = FxRatesEntry(
        "data/fx_rate/2026-01-01/0000000007-abc.jsonl.gz",
        6,
        1,
        "00",
        fx_state_key(7, "abc"),
        2,
        {"2026-01-01": "HTTP 404"},
    )
    doc = _manifest(fx).to_doc()
    assert IngestManifest.from_doc(doc, 7) == _manifest(fx)
    plain = _manifest(None).to_doc()
    assert "fx_rates" not in plain  # a table run's document is what it was before
    assert IngestManifest.from_doc(plain, 7).fx_rates is None


def test_a_commit_record_names_the_rates_parquet_inside_its_prefix() -> None:
    record = CommitRecord(7, "abc", {}, snapshots={}, fx_rates=ObjectRef(table_key("fx_rate", 7, "abc"), 6))
    assert CommitRecord.from_doc(record.to_doc(), 7) == record
    assert "fx_rates" not in CommitRecord(7, "abc", {}).to_doc()
    bad = record.to_doc() | {"fx_rates": {"key": "tables/fact_payment/0000000007-abc.parquet", "rows": 6}}
    with pytest.raises(CommitRecordError, match="outside tables/fx_rate/"):
        CommitRecord.from_doc(bad, 7)


def test_state_and_lines_round_trip_and_keys_parse() -> None:
    state = FxState(dates={date(2024, 1, 5): DateState({"USD": "1.27"}, {"EUR": "non-positive"}, 1, None)})
    state.source_seen["payment"] = "2024-01-05T11:00:00.000"
    assert FxState.from_body(state.to_body()) == state
    assert state.to_body() == FxState.from_body(state.to_body()).to_body()  # deterministic bytes
    lines = [
        RateLine("2024-01-05", "USD", "1.27", "GBP", "u"),
        RateLine("2024-01-05", None, None, "GBP", "u", "bad", "<"),
    ]
    assert decode_lines(encode_lines(lines)) == [line.to_doc() for line in lines]
    assert parse_key(fx_state_key(7, "abc")) == (KeyKind.FX_STATE, 7, None, "abc", None)
    assert state.previous_rate("USD", date(2024, 1, 6)) is not None
    assert state.previous_rate("USD", date(2024, 1, 5)) is None  # strictly earlier
