"""Which dates a rates run asks for: unsettled, before today, not given up, oldest first, capped."""

from __future__ import annotations

from datetime import date

from common.config import FxRatesConfig
from ingestion.fx_run import dates_to_ask
from lake.fx_rates import DateState, FxState

TODAY = date(2026, 11, 30)
CODES = ["EUR", "GBP"]


def test_only_unsettled_past_dates_not_given_up_oldest_first_and_capped() -> None:
    state = FxState(
        dates={
            date(2026, 11, 29): DateState(),
            date(2026, 11, 1): DateState(),
            TODAY: DateState(),  # may not be published yet: asked from tomorrow
            date(2099, 1, 1): DateState(),  # the future
            date(2026, 10, 1): DateState(rates={"EUR": "1.1", "GBP": "1"}),  # settled
            date(2026, 10, 2): DateState(rates={"GBP": "1"}, rejected={"EUR": "non-positive"}),  # settled too
            date(2026, 10, 3): DateState(rates={"GBP": "1"}),  # EUR still wanted (a new currency)
            date(2026, 10, 4): DateState(attempts=2, missing="HTTP 404"),  # given up
            date(2026, 10, 5): DateState(attempts=1, missing="HTTP 404"),  # once more
        }
    )
    config = FxRatesConfig("https://x/{date}/{base}", max_dates_per_run=10, missing_retries=2)
    assert dates_to_ask(state, CODES, TODAY, config) == [
        date(2026, 10, 3),
        date(2026, 10, 5),
        date(2026, 11, 1),
        date(2026, 11, 29),
    ]
    capped = FxRatesConfig("https://x/{date}/{base}", max_dates_per_run=2, missing_retries=2)
    assert dates_to_ask(state, CODES, TODAY, capped) == [date(2026, 10, 3), date(2026, 10, 5)]
