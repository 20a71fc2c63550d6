"""The exchange-rate contracts: a rate line in the ingest bucket, the rates Parquet, the rates state.

Exchange rates are the pipeline's second source (issue 17, docs/ingestion.md "Exchange
rates"). A rates run is an ingestion run like any other (``runs/<seq>.json``, names its
objects, written last); its manifest has no tables and an ``fx_rates`` entry
(``lake.manifest.FxRatesEntry``) naming:

* ``data/fx_rate/<day>/<seq>-<attempt>.jsonl.gz``: one ``RateLine`` per line, the rates
  fetched in this run, and the ones ingestion found implausible with their reason
  (transform sends those to quarantine; the warehouse keeps the previous good rate);
* ``state/fx-rates/<seq>-<attempt>.json.gz``: ``FxState``, every date a fact referenced
  and what is held for it, so the next run fetches only what is missing.

Transform writes the good rates as ``tables/fx_rate/<seq>-<attempt>.parquet`` (``SCHEMA``),
named by the commit record's ``fx_rates`` entry; load upserts them into ``fx_rate``.

A rate is "units of ``currency_code`` for one unit of ``base_currency``" on ``rate_date``,
as the currency-api documents give it; it travels as decimal text, never a float.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, ClassVar

import pyarrow as pa

# Every rate is relative to this currency (the base the documents are fetched for).
BASE_CURRENCY = "GBP"
# Rates are stored with this many decimal places (Parquet decimal128(30, 14), numeric(30,14)):
# more than a double's 15-17 significant digits for any rate >= 0.01, so no digit the
# API sent is lost; a rate with more is rounded half-even to this scale by transform.
RATE_SCALE = 14
RATE_PRECISION = 30

SCHEMA = pa.schema(
    [
        pa.field("rate_date", pa.date32(), nullable=False),
        pa.field("currency_code", pa.string(), nullable=False),
        pa.field("rate", pa.decimal128(RATE_PRECISION, RATE_SCALE), nullable=False),
        pa.field("base_currency", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
    ]
)


@dataclass(frozen=True)
class RateLine:
    """One line of a rates data object: a rate, or (``reject_reason`` set) a rejected one.

    A whole document that could not be read is one line with ``currency_code`` None and
    the first bytes of the response in ``raw``.
    """

    rate_date: str
    currency_code: str | None
    rate: str | None
    base_currency: str
    source: str
    reject_reason: str | None = None
    raw: str | None = None

    def to_doc(self) -> dict[str, Any]:
        return asdict(self)


def encode_lines(lines: Iterable[RateLine]) -> bytes:
    """The gzip body of a rates data object (``mtime=0``: the same rates give the same bytes)."""
    text = "".join(json.dumps(line.to_doc(), sort_keys=True) + "\n" for line in lines)
    return gzip.compress(text.encode(), mtime=0)


def decode_lines(body: bytes) -> list[dict[str, Any]]:
    """The documents of a rates data object's lines (blank lines skipped)."""
    return [json.loads(line) for line in gzip.decompress(body).decode().splitlines() if line.strip()]


@dataclass
class DateState:
    """What is held for one date: good rates (decimal text) per code, rejected codes with the reason,
    and the runs that found no document for it (``attempts``, ``missing`` = the last reason)."""

    rates: dict[str, str] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)
    attempts: int = 0
    missing: str | None = None

    def settled(self, codes: Iterable[str]) -> bool:
        """Every code in ``codes`` has a rate or was rejected (a rejected rate is not fetched again)."""
        return all(c in self.rates or c in self.rejected for c in codes)


@dataclass
class FxState:
    """The exchange rates held after a rates run: per referenced date, its ``DateState``.

    ``source_seen`` is, per source table, the ``last_updated`` up to which its rows' dates
    were collected (the next run asks the source only for rows changed since).
    """

    FORMAT: ClassVar[int] = 1

    base_currency: str = BASE_CURRENCY
    dates: dict[date, DateState] = field(default_factory=dict)
    source_seen: dict[str, str] = field(default_factory=dict)

    def previous_rate(self, code: str, day: date) -> tuple[date, Decimal] | None:
        """The good rate of ``code`` on the nearest date before ``day`` (for the 10x check)."""
        earlier = [d for d, s in self.dates.items() if d < day and code in s.rates]
        if not earlier:
            return None
        d = max(earlier)
        return d, Decimal(self.dates[d].rates[code])

    def to_body(self) -> bytes:
        doc = {
            "format": self.FORMAT,
            "base_currency": self.base_currency,
            "source_seen": dict(sorted(self.source_seen.items())),
            "dates": {d.isoformat(): asdict(s) for d, s in sorted(self.dates.items())},
        }
        return gzip.compress(json.dumps(doc, sort_keys=True).encode(), mtime=0)

    @classmethod
    def from_body(cls, body: bytes) -> FxState:
        """Read a state object; ``ValueError`` (or ``KeyError``/``TypeError``) if it is not one."""
        doc = json.loads(gzip.decompress(body))
        if not isinstance(doc, Mapping) or doc.get("format") != cls.FORMAT:
            raise ValueError(f"not a format-{cls.FORMAT} exchange-rate state")
        dates = {date.fromisoformat(d): DateState(**s) for d, s in doc["dates"].items()}
        return cls(str(doc["base_currency"]), dates, dict(doc.get("source_seen") or {}))
