"""Reading currency-api documents: exact decimals, and every implausible rate rejected with its reason."""

from __future__ import annotations

import json
from datetime import date

from ingestion.fx_validate import read_document
from lake.fx_rates import DateState, FxState

DAY = date(2024, 3, 6)
CODES = ["EUR", "GBP", "USD"]


def _doc(rates: dict[str, object], day: str = "2024-03-06", base: str = "gbp") -> bytes:
    return json.dumps({"date": day, base: rates}).encode()


def test_rates_are_read_as_exact_decimals() -> None:
    body = b'{"date": "2024-03-06", "gbp": {"eur": 1.17023456789012345, "gbp": 1, "usd": 1.2701, "jpy": 188.2}}'
    read = read_document(body, DAY, CODES, FxState(), "src")
    assert read.unusable is None
    assert read.rejected == []
    assert {(x.currency_code, x.rate) for x in read.good} == {
        ("EUR", "1.17023456789012345"),  # every digit sent, no float on the way
        ("GBP", "1"),
        ("USD", "1.2701"),
    }


def test_implausible_rates_are_rejected_with_the_reason_and_the_rest_kept() -> None:
    state = FxState(dates={date(2024, 3, 4): DateState(rates={"USD": "1.27", "EUR": "1.17"})})
    read = read_document(_doc({"usd": 12.8, "eur": -1, "gbp": 1}), DAY, [*CODES, "XYZ", "U$"], state, "src")
    reasons = {x.currency_code: x.reject_reason for x in read.rejected}
    assert [x.currency_code for x in read.good] == ["GBP"]
    assert "more than 10x" in reasons["USD"]
    assert "2024-03-04's 1.27" in reasons["USD"]
    assert reasons["EUR"].startswith("non-positive rate")
    assert reasons["XYZ"].startswith("unknown code")
    assert reasons["U$"].startswith("unknown code")


def test_a_rate_just_inside_ten_times_is_kept() -> None:
    state = FxState(dates={date(2024, 3, 5): DateState(rates={"USD": "1"})})
    read = read_document(_doc({"usd": 10, "eur": 1, "gbp": 1}), DAY, CODES, state, "src")
    assert read.rejected == []


def test_a_non_number_rate_is_rejected() -> None:
    read = read_document(_doc({"usd": "1.27", "eur": True, "gbp": None}), DAY, CODES, FxState(), "src")
    assert {x.currency_code for x in read.rejected} == {"USD", "EUR", "GBP"}
    assert all(x.reject_reason and x.reject_reason.startswith("malformed rate") for x in read.rejected)


def test_a_malformed_document_is_rejected_whole() -> None:
    for body, why in [
        (b"<html>rate limited</html>", "not JSON"),
        (b"[1, 2]", "not an object"),
        (_doc({"usd": 1.27}, day="2024-03-05"), "is not the requested 2024-03-06"),
        (_doc({"usd": 1.27}, base="eur"), "no 'gbp' rates object"),
    ]:
        read = read_document(body, DAY, CODES, FxState(), "src")
        assert read.unusable is not None
        assert why in read.unusable
        assert read.good == []
        assert len(read.rejected) == 1
        assert read.rejected[0].currency_code is None
        assert read.rejected[0].raw == body.decode()
