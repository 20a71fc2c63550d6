"""Pipeline health: the last run of each stage, lag, freshness against SPEC §3's 30 minutes,
and quarantined rows, from the warehouse (``analytics`` views of the load's bookkeeping)
and, where the app was given one, from the lake (a callable the CLI builds from ``ops.status``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pg8000.native

FRESHNESS_TARGET = timedelta(minutes=30)  # SPEC §3 "Fresh"


@dataclass(frozen=True)
class StageRun:
    stage: str
    run_seq: int | None
    at: datetime | None


@dataclass(frozen=True)
class LakeStatus:
    """What the lake says (ingestion and transform commit records, transform quarantine)."""

    stages: list[StageRun]
    quarantined: dict[str, int]  # source table -> rows


@dataclass(frozen=True)
class Health:
    checked_at: datetime
    last_load: StageRun
    change_to_load_lag: timedelta | None  # loaded_at - newest source last_updated of the last run with facts
    runs_last_hour: int
    warehouse_quarantine: dict[str, int]
    lake: LakeStatus | None = None
    lake_error: str | None = None
    stages: list[StageRun] = field(default_factory=list)
    summaries_run: int | None = None  # the run the pages' figures include (``figures_run``)

    @property
    def data_age(self) -> timedelta | None:
        if self.last_load.at is None:
            return None
        return self.checked_at - self.last_load.at

    @property
    def runs_behind(self) -> int | None:
        """How many runs the load trails ingestion (None without the lake)."""
        ingested = next((s.run_seq for s in self.stages if s.stage == "ingestion"), None)
        if ingested is None:
            return None
        return ingested - (self.last_load.run_seq or 0)

    @property
    def summaries_behind(self) -> int:
        """How many runs the summaries (the pages' figures) trail the load: their fold runs after it."""
        return (self.last_load.run_seq or 0) - (self.summaries_run or 0)

    @property
    def fresh(self) -> bool:
        age = self.data_age
        return age is not None and age <= FRESHNESS_TARGET


def data_loaded(con: pg8000.native.Connection) -> StageRun:
    """The last run the load committed: what the app's figures include."""
    rows = con.run("SELECT run_seq, loaded_at FROM analytics.load_runs ORDER BY run_seq DESC LIMIT 1")
    if not rows:
        return StageRun("load", None, None)
    return StageRun("load", int(rows[0][0]), _utc(rows[0][1]))


def figures_run(con: pg8000.native.Connection) -> int | None:
    """The last load run the summaries include, and so every page's figures (None before the first).

    The fold runs after the load, in an invocation of its own (load.summaries): until it commits
    this trails ``data_loaded``.
    """
    return con.run("SELECT min(run_seq) FROM analytics.summary_state")[0][0]


def pipeline_health(con: pg8000.native.Connection, lake_status: Callable[[], LakeStatus] | None = None) -> Health:
    """The health figures; the lake's are skipped when ``lake_status`` is None, and its error shown if it fails."""
    now = datetime.now(UTC)
    last = data_loaded(con)
    lag_rows = con.run(
        "SELECT loaded_at, max_source_last_updated FROM analytics.load_runs"
        " WHERE max_source_last_updated IS NOT NULL ORDER BY run_seq DESC LIMIT 1"
    )
    lag = _utc(lag_rows[0][0]) - lag_rows[0][1].replace(tzinfo=UTC) if lag_rows else None
    recent = con.run(
        "SELECT count(*) FROM analytics.load_runs WHERE loaded_at > :since", since=now - timedelta(hours=1)
    )[0][0]
    quarantine = dict(con.run("SELECT table_name, rows FROM analytics.load_quarantine_counts ORDER BY table_name"))
    lake: LakeStatus | None = None
    error: str | None = None
    if lake_status is not None:
        try:
            lake = lake_status()
        except Exception as exc:  # the lake is optional here: say why it is missing, keep the page
            error = f"{type(exc).__name__}: {exc}"
    stages = [*(lake.stages if lake else []), last]
    quarantined = {k: int(v) for k, v in quarantine.items()}
    return Health(now, last, lag, int(recent), quarantined, lake, error, stages, figures_run(con))


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
