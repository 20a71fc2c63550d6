"""Asking the exchange-rate API for one date's document: timeout, retries with backoff, and what "no" means.

The API (currency-api format, e.g. jsDelivr's ``@fawazahmed0/currency-api``) serves one
JSON document per date and base currency at ``FX_RATES_URL`` with ``{date}`` and
``{base}`` filled in. Three outcomes (docs/ingestion.md, "Exchange rates"):

* ``Fetched.body``: the response's bytes (HTTP 200), for ``ingestion.fx_validate`` to read;
* ``missing``: the API answered that it has no such document (404/410, or another 4xx):
  the date is asked again by later runs, a bounded number of times;
* ``unavailable``: a 5xx, 429, a timeout or a connection error, still so after
  ``max_tries`` tries with exponential backoff: an outage, not an answer about the date,
  so the run stops asking (the next run tries again) and the date's count is not spent.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from common.config import FxRatesConfig, check_fx_url_template

# A currency-api document for one base is ~10 kB (every currency it knows); anything far
# larger is not one, and reading it whole would only cost memory.
MAX_BODY_BYTES = 2_000_000
# Backoff before try n (n >= 2): BACKOFF_SECONDS * 2**(n-2), at most BACKOFF_CAP_SECONDS.
BACKOFF_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 8.0
_RETRIED_STATUS = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Fetched:
    """One date's answer: ``body`` (HTTP 200), or why there is none and whether the API was reachable."""

    day: date
    url: str
    body: bytes | None = None
    missing: str | None = None  # the API has no document for the date (an answer)
    unavailable: str | None = None  # no answer: outage, timeout (after every try)


class RatesApi:
    """The HTTP side of the exchange-rate source (stdlib ``urllib``: one GET per date, no session state)."""

    def __init__(
        self,
        config: FxRatesConfig,
        *,
        sleep: Callable[[float], None] = time.sleep,
        backoff_seconds: float = BACKOFF_SECONDS,
    ) -> None:
        if config.url_template is None:
            raise ValueError("the exchange-rate step is off (FX_RATES_URL is not set)")
        check_fx_url_template(config.url_template)
        self.template = config.url_template
        self.timeout = config.timeout_seconds
        self.max_tries = config.max_tries
        self._sleep = sleep
        self._backoff = backoff_seconds

    def url(self, day: date, base: str) -> str:
        return self.template.replace("{date}", day.isoformat()).replace("{base}", base.lower())

    def fetch(self, day: date, base: str) -> Fetched:
        """GET the document of ``day`` for ``base``: retried on an outage, never on an answer."""
        url = self.url(day, base)
        problem = ""
        for attempt in range(1, self.max_tries + 1):
            if attempt > 1:
                self._sleep(min(self._backoff * 2 ** (attempt - 2), BACKOFF_CAP_SECONDS))
            try:
                return Fetched(day, url, body=self._get(url))
            except urllib.error.HTTPError as exc:
                if exc.code not in _RETRIED_STATUS:
                    return Fetched(day, url, missing=f"HTTP {exc.code} from {url}")
                problem = f"HTTP {exc.code}"
            except TimeoutError:
                problem = f"no response within {self.timeout:g} s"
            except (urllib.error.URLError, ConnectionError, OSError) as exc:
                problem = f"connection failed: {getattr(exc, 'reason', exc)}"
        return Fetched(day, url, unavailable=f"{problem} from {url} (after {self.max_tries} tries)")

    def _get(self, url: str) -> bytes:
        # The scheme is https (or http to 127.0.0.1 for the local stack): check_fx_url_template.
        headers = {"Accept": "application/json", "User-Agent": "totes-pipeline"}
        request = urllib.request.Request(url, headers=headers)  # noqa: S310  # nosec B310
        with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310  # nosec B310
            body: bytes = response.read(MAX_BODY_BYTES + 1)
        if len(body) > MAX_BODY_BYTES:
            raise urllib.error.HTTPError(url, 413, "response larger than a rates document", None, None)  # type: ignore[arg-type]
        return body
