"""One exchange-rate run: the dates facts reference, the rates not held yet, fetched and committed as a run.

Runs after the table run of the same invocation has committed (``ingestion.handler``),
so a slow or failing API can neither fail nor delay the tables (docs/ingestion.md,
"Exchange rates", argues this against a separate function). Order:

1. read the rates state (SSM ``<prefix>/ingestion/fx_rates_state`` names its object;
   none: an empty state, so everything is fetched: the backfill);
2. in one READ ONLY snapshot of totesys: the currency codes, and the dates of the
   rows changed since the state's ``source_seen`` (sales and purchase orders' creation
   date, payments' payment date: the dates the conversion views convert on);
3. ask the API for the dates not settled yet, oldest first, at most
   ``FX_MAX_DATES_PER_RUN``, never today or a later date, a missing date at most
   ``FX_MISSING_RETRIES`` times, and stop at the first outage or the deadline;
4. commit a run: the rate lines, the new state, then ``runs/<seq>.json`` LAST (no
   tables; the previous watermarks, recent keys and comparison state carried unchanged),
   then SSM.

Nothing to ask and no new date: no run at all.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pg8000.native

from common.config import FxRatesConfig
from common.observability import MetricUnit, get_logger
from common.s3_store import LakeStore, ObjectExistsError, ObjectMissingError
from common.timefmt import utc_stamp
from ingestion.errors import StateError
from ingestion.fx_api import RatesApi
from ingestion.fx_validate import read_document
from ingestion.snapshot import read_only_snapshot
from ingestion.state import publish_state, read_state, resolve_previous
from ingestion.watermarks import format_watermark, parse_watermark, to_source_time
from lake import ssm as names
from lake.fx_rates import DateState, FxState, RateLine, encode_lines
from lake.keys import FX_RATES, data_key, fx_state_key, new_attempt_id
from lake.manifest import FxRatesEntry, IngestManifest, write_manifest

if TYPE_CHECKING:
    from aws_lambda_powertools import Metrics

logger = get_logger("ingestion")

# The date each fact converts on (the conversion views of sql/warehouse/006_fx_rates.sql),
# as text: payment_date is text in totesys, and a bad one must not fail the query.
DATE_SOURCES: dict[str, str] = {
    "sales_order": "to_char(created_at, 'YYYY-MM-DD')",
    "purchase_order": "to_char(created_at, 'YYYY-MM-DD')",
    "payment": "payment_date",
}
# Rows whose transaction commits late can carry an older last_updated: re-read a day.
SOURCE_LOOKBACK = timedelta(days=1)
COMMITTED, SUPERSEDED, NOTHING_TO_DO = "committed", "superseded", "nothing to do"


@dataclass
class FxResult:
    """What the exchange-rate step did (``status``: committed, superseded, nothing to do)."""

    status: str
    run_seq: int | None = None
    rates: int = 0
    rejected: int = 0
    asked: int = 0  # dates the API answered (a document or a "no such date")
    missing: dict[str, str] = field(default_factory=dict)
    unavailable: str | None = None
    new_dates: int = 0
    duration_ms: int = 0

    def summary(self) -> dict[str, Any]:
        return {
            "status": self.status, "run_seq": self.run_seq, "rates": self.rates, "rejected": self.rejected,
            "dates_asked": self.asked, "dates_missing": len(self.missing), "unavailable": self.unavailable,
            "duration_ms": self.duration_ms,
        }  # fmt: skip


def load_fx_state(store: LakeStore, ssm: Any, ssm_prefix: str) -> FxState:
    """The state the last rates run left; an empty one before the first (or if SSM names none)."""
    try:
        key = ssm.get_parameter(Name=names.fx_rates_state_name(ssm_prefix))["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        return FxState()
    try:
        return FxState.from_body(store.get_bytes(key))
    except ObjectMissingError as exc:
        raise StateError(f"SSM names exchange-rate state {key}, which does not exist") from exc
    except (ValueError, KeyError, TypeError, OSError) as exc:
        raise StateError(f"exchange-rate state {key} is unreadable: {exc}") from exc


def read_source(con: pg8000.native.Connection, state: FxState) -> tuple[list[str], int]:
    """The currency codes; add to ``state`` the dates of source rows changed since its ``source_seen``.

    Returns the codes and how many dates were new.
    """
    new = 0
    with read_only_snapshot(con, "reading the dates and currencies for exchange rates"):
        codes = sorted({str(r[0]).strip().upper() for r in con.run("SELECT currency_code FROM currency")})
        for table, expr in DATE_SOURCES.items():
            seen = state.source_seen.get(table)
            since = parse_watermark(seen) - SOURCE_LOOKBACK if seen else datetime(1, 1, 1)
            rows = con.run(
                f"SELECT DISTINCT {expr}, max(last_updated) OVER () FROM {table}"  # noqa: S608  # nosec B608 (constants)
                " WHERE last_updated > CAST(:since AS timestamp)",
                since=since,
            )
            for text, _ in rows:
                day = _as_date(text)
                if day is not None and day not in state.dates:
                    state.dates[day] = DateState()
                    new += 1
            if rows:
                state.source_seen[table] = format_watermark(rows[0][1])
    return codes, new


def _as_date(text: object) -> date | None:
    try:
        return date.fromisoformat(str(text)[:10]) if text is not None else None
    except ValueError:  # a malformed payment_date: the table's own validation reports it
        return None


def dates_to_ask(state: FxState, codes: list[str], today: date, config: FxRatesConfig) -> list[date]:
    """The unsettled dates before today still worth asking, oldest first, at most the per-run cap.

    Not today: its document may not be published yet, and a 404 would spend one of the
    date's few tries (``FX_MISSING_RETRIES``) within minutes; today is asked from tomorrow.
    """
    due = (
        d
        for d, s in sorted(state.dates.items())
        if d < today and not s.settled(codes) and s.attempts < config.missing_retries
    )
    return [d for d, _ in zip(due, range(config.max_dates_per_run), strict=False)]


def fetch_rates(
    api: RatesApi, state: FxState, codes: list[str], days: list[date], deadline: float | None, result: FxResult
) -> list[RateLine]:
    """Ask the API for ``days`` in order, updating ``state``; stop at the first outage or the deadline."""
    lines: list[RateLine] = []
    for day in days:
        if deadline is not None and time.monotonic() >= deadline:
            logger.warning("exchange-rate step out of time; the rest waits for the next run")
            break
        got = api.fetch(day, state.base_currency)
        if got.unavailable is not None:  # no answer: nothing learnt about the date
            result.unavailable = got.unavailable
            break
        result.asked += 1
        entry = state.dates[day]
        if got.body is None:
            entry.attempts, entry.missing = entry.attempts + 1, got.missing
            result.missing[day.isoformat()] = str(got.missing)
            continue
        read = read_document(got.body, day, codes, state, got.url)
        lines.extend(read.good + read.rejected)
        if read.unusable is not None:
            entry.attempts, entry.missing = entry.attempts + 1, read.unusable
            result.missing[day.isoformat()] = read.unusable
            continue
        entry.missing = None
        entry.rates.update({str(x.currency_code): str(x.rate) for x in read.good})
        entry.rejected.update({str(x.currency_code): str(x.reject_reason) for x in read.rejected})
    result.rates = sum(1 for x in lines if x.reject_reason is None)
    result.rejected = len(lines) - result.rates
    return lines


def commit_rates(
    store: LakeStore, ssm: Any, ssm_prefix: str, state: FxState, lines: list[RateLine], result: FxResult,
    clock: Callable[[], datetime],
) -> None:  # fmt: skip
    """Commit the rates as the next run: data object, state object, then the manifest LAST; then SSM."""
    started = clock()
    previous = resolve_previous(store, read_state(ssm, ssm_prefix))
    seq, attempt = previous.run_seq + 1, new_attempt_id()
    key = sha = None
    if lines:
        body = encode_lines(lines)
        key, sha = data_key(FX_RATES, seq, attempt, to_source_time(started)), hashlib.sha256(body).hexdigest()
        store.put_new(key, body, content_type="application/gzip")
    state_key = fx_state_key(seq, attempt)
    store.put_new(state_key, state.to_body(), content_type="application/gzip")
    entry = FxRatesEntry(key, result.rates, result.rejected, sha, state_key, result.asked, dict(result.missing))
    manifest = IngestManifest(
        run_seq=seq, attempt=attempt, started_at=utc_stamp(started), committed_at=utc_stamp(clock()),
        previous_run_seq=previous.run_seq, tables={}, watermarks=dict(previous.watermarks),
        recent_keys=previous.recent_keys, compare_state=previous.compare_state, fx_rates=entry,
        snapshot_cursors=previous.snapshot_cursors,
    )  # fmt: skip
    try:
        write_manifest(store, manifest)
    except ObjectExistsError:
        result.status, result.run_seq = SUPERSEDED, seq
        logger.warning("another run committed this sequence id first; the rates are asked again next run")
        return
    result.status, result.run_seq = COMMITTED, seq
    publish_state(store, ssm, ssm_prefix, manifest)
    ssm.put_parameter(Name=names.fx_rates_state_name(ssm_prefix), Value=state_key, Type="String", Overwrite=True)


def run_fx_rates(
    *,
    store: LakeStore,
    ssm: Any,
    connection: pg8000.native.Connection,
    ssm_prefix: str,
    api: RatesApi,
    config: FxRatesConfig,
    clock: Callable[[], datetime],
    deadline: float | None = None,
    metrics: Metrics | None = None,
) -> FxResult:
    """Fetch the exchange rates the facts need and do not have yet, and commit them as a run (see module doc).

    ``deadline`` is a ``time.monotonic()`` value after which no further date is asked.
    Raises what the source, S3 or SSM raise; the handler keeps that from the table run.
    """
    started = time.perf_counter()
    state = load_fx_state(store, ssm, ssm_prefix)
    codes, new = read_source(connection, state)
    result = FxResult(NOTHING_TO_DO, new_dates=new)
    days = dates_to_ask(state, codes, to_source_time(clock()).date(), config)
    lines = fetch_rates(api, state, codes, days, deadline, result)
    if result.asked or new:
        commit_rates(store, ssm, ssm_prefix, state, lines, result, clock)
    result.duration_ms = round((time.perf_counter() - started) * 1000)
    _report(result, metrics)
    return result


def _report(result: FxResult, metrics: Metrics | None) -> None:
    if result.unavailable:
        logger.warning("exchange-rate API unavailable; the next run asks again", extra={"error": result.unavailable})
    if result.missing:
        logger.warning("exchange-rate API has no document for some dates", extra={"missing": result.missing})
    logger.info("exchange-rate run finished", extra=result.summary())
    if metrics is None:
        return
    metrics.add_metric(name="FxRatesFetched", unit=MetricUnit.Count, value=result.rates)
    metrics.add_metric(name="FxRatesRejected", unit=MetricUnit.Count, value=result.rejected)
    metrics.add_metric(name="FxDatesMissing", unit=MetricUnit.Count, value=len(result.missing))
    metrics.add_metric(name="FxApiUnavailable", unit=MetricUnit.Count, value=1 if result.unavailable else 0)
    metrics.add_metric(name="FxRunDurationMs", unit=MetricUnit.Milliseconds, value=result.duration_ms)
