"""The exchange-rate API client against a local HTTP server (never the internet): timeouts, retries, answers."""

from __future__ import annotations

import time
from datetime import date

import pytest

from common.config import ConfigError, FxRatesConfig
from ingestion.fx_api import RatesApi
from local.fx_server import FxServer, Reply

DAY = date(2024, 3, 6)
ROUTE = "2024-03-06/gbp"


def _api(server: FxServer, sleeps: list[float], timeout: float = 2, tries: int = 3) -> RatesApi:
    config = FxRatesConfig(server.url_template, timeout_seconds=timeout, max_tries=tries)
    return RatesApi(config, sleep=sleeps.append, backoff_seconds=0.25)


def test_a_document_is_returned_as_bytes() -> None:
    doc = Reply.document("2024-03-06", "gbp", {"usd": 1.27})
    with FxServer({ROUTE: [doc]}) as server:
        got = _api(server, []).fetch(DAY, "GBP")
    assert got.body == doc.body
    assert got.missing is None
    assert got.unavailable is None
    assert got.url.endswith("/2024-03-06/gbp.json")


def test_a_500_is_retried_with_exponential_backoff_then_succeeds() -> None:
    doc = Reply.document("2024-03-06", "gbp", {"usd": 1.27})
    sleeps: list[float] = []
    with FxServer({ROUTE: [Reply(500), Reply(503), doc]}) as server:
        got = _api(server, sleeps).fetch(DAY, "GBP")
        asked = len(server.requests)
    assert got.body == doc.body
    assert asked == 3
    assert sleeps == [0.25, 0.5]


def test_a_404_is_an_answer_not_retried() -> None:
    sleeps: list[float] = []
    with FxServer({}) as server:
        got = _api(server, sleeps).fetch(DAY, "GBP")
        asked = len(server.requests)
    assert got.body is None
    assert got.unavailable is None
    assert got.missing is not None
    assert "HTTP 404" in got.missing
    assert asked == 1
    assert sleeps == []


def test_an_outage_after_every_try_is_unavailable_not_missing() -> None:
    with FxServer({ROUTE: [Reply(502)]}) as server:
        got = _api(server, [], tries=2).fetch(DAY, "GBP")
        asked = len(server.requests)
    assert got.missing is None
    assert got.body is None
    assert got.unavailable is not None
    assert "HTTP 502" in got.unavailable
    assert "after 2 tries" in got.unavailable
    assert asked == 2


def test_a_slow_answer_past_the_timeout_is_retried_and_bounded() -> None:
    doc = Reply.document("2024-03-06", "gbp", {"usd": 1.27})
    slow = Reply.document("2024-03-06", "gbp", {"usd": 1.27}, delay_s=1.5)
    with FxServer({ROUTE: [slow, doc]}) as server:
        t0 = time.monotonic()
        got = _api(server, [], timeout=0.3).fetch(DAY, "GBP")
        elapsed = time.monotonic() - t0
    assert got.body == doc.body
    assert elapsed < 1.5  # the slow answer was not waited for
    with FxServer({ROUTE: [slow]}) as server:
        got = _api(server, [], timeout=0.3, tries=2).fetch(DAY, "GBP")
    assert got.unavailable is not None
    assert "no response within 0.3 s" in got.unavailable


def test_nothing_listening_is_unavailable() -> None:
    server = FxServer({}).start()
    template = server.url_template
    server.stop()
    got = RatesApi(FxRatesConfig(template, timeout_seconds=1, max_tries=2), sleep=lambda s: None).fetch(DAY, "GBP")
    assert got.unavailable is not None
    assert "connection failed" in got.unavailable


@pytest.mark.parametrize(
    "template",
    [
        "http://example.com/{date}/{base}.json",  # plain HTTP off this machine
        "http://127.0.0.1.example.com/{date}/{base}.json",
        "https://example.com/{date}/rates.json",  # no {base}
        "ftp://127.0.0.1/{date}/{base}.json",
    ],
)
def test_the_url_template_is_checked(template: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FX_RATES_URL", template)
    with pytest.raises(ConfigError, match="FX_RATES_URL"):
        FxRatesConfig.from_env()


def test_unset_url_turns_the_step_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FX_RATES_URL", raising=False)
    assert FxRatesConfig.from_env().url_template is None
    monkeypatch.setenv("FX_RATES_URL", "https://cdn.example/{date}/{base}.json")
    monkeypatch.setenv("FX_MAX_DATES_PER_RUN", "0")
    with pytest.raises(ConfigError, match="FX_MAX_DATES_PER_RUN"):
        FxRatesConfig.from_env()
