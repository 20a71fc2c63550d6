"""Reading one currency-api document into rate lines: good rates, and the implausible ones with their reason.

A document is ``{"date": "2024-03-06", "gbp": {"usd": 1.2701, "eur": 1.1702, ...}}``:
units of each currency for one unit of the base. It is parsed with ``Decimal`` for
every number (never a float). Per currency of the ``currency`` table:

* missing from the document -> rejected ("unknown code": the API does not know it);
* not a number, or not > 0 -> rejected;
* more than ``MAX_DAY_RATIO`` times (or less than 1/that) the previous good rate -> rejected.

A document that is not JSON, not of the requested date or base, or has no rates
object is rejected whole (one line, ``currency_code`` None) and the date stays
missing. A rejected rate is kept (transform quarantines it, with the reason) and is
not asked again; the conversion views then use the previous good rate.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from lake.fx_rates import FxState, RateLine

# Day-on-day moves beyond this factor are data errors, not markets (issue 17).
MAX_DAY_RATIO = Decimal(10)
_CODE = re.compile(r"^[A-Z]{3}$")
_RAW_CHARS = 2000  # how much of a rejected document the quarantine keeps


@dataclass
class ReadDocument:
    """One date's document read: the good rates, the rejected ones, or why the document is unusable."""

    good: list[RateLine] = field(default_factory=list)
    rejected: list[RateLine] = field(default_factory=list)
    unusable: str | None = None


def _parse(body: bytes, day: date, base: str) -> tuple[dict[str, Any] | None, str | None]:
    """The document's rates object (lower-case codes), or why there is none."""
    try:
        doc = json.loads(body, parse_float=Decimal, parse_int=Decimal)
    except (ValueError, UnicodeDecodeError) as exc:
        return None, f"malformed document: not JSON ({exc})"
    if not isinstance(doc, dict):
        return None, f"malformed document: a JSON {type(doc).__name__}, not an object"
    if str(doc.get("date")) != day.isoformat():
        return None, f"malformed document: date {doc.get('date')!r} is not the requested {day.isoformat()}"
    rates = doc.get(base.lower())
    if not isinstance(rates, dict):
        return None, f"malformed document: no {base.lower()!r} rates object"
    return rates, None


def _check_rate(value: Any, code: str, day: date, state: FxState) -> tuple[Decimal | None, str | None]:
    """The rate as a Decimal, or why it is rejected."""
    if isinstance(value, bool) or not isinstance(value, Decimal):
        return None, f"malformed rate for {code}: {value!r} is not a number"
    try:
        if not value.is_finite() or value <= 0:
            return None, f"non-positive rate for {code}: {value}"
    except InvalidOperation:
        return None, f"malformed rate for {code}: {value!r}"
    previous = state.previous_rate(code, day)
    if previous is not None:
        prev_day, prev_rate = previous
        ratio = value / prev_rate
        if ratio > MAX_DAY_RATIO or ratio < 1 / MAX_DAY_RATIO:
            return None, (
                f"implausible rate for {code}: {value} is more than {MAX_DAY_RATIO}x away from "
                f"{prev_day.isoformat()}'s {prev_rate}"
            )
    return value, None


def read_document(body: bytes, day: date, codes: list[str], state: FxState, source: str) -> ReadDocument:
    """Read ``body`` (the document of ``day``) for the currency ``codes``, checking each against ``state``."""
    base = state.base_currency
    out = ReadDocument()
    rates, unusable = _parse(body, day, base)
    if rates is None:
        out.unusable = unusable
        raw = body[:_RAW_CHARS].decode("utf-8", errors="replace")
        out.rejected.append(RateLine(day.isoformat(), None, None, base, source, unusable, raw))
        return out
    for code in codes:
        if not _CODE.match(code):
            line = RateLine(day.isoformat(), code, None, base, source, f"unknown code: {code!r} is not ISO 4217")
            out.rejected.append(line)
            continue
        if code.lower() not in rates:
            line = RateLine(day.isoformat(), code, None, base, source, f"unknown code: the API has no rate for {code}")
            out.rejected.append(line)
            continue
        value = rates[code.lower()]
        rate, why = _check_rate(value, code, day, state)
        if rate is None:
            out.rejected.append(RateLine(day.isoformat(), code, str(value), base, source, why))
        else:
            out.good.append(RateLine(day.isoformat(), code, str(rate), base, source))
    return out
