"""Settings read from the environment, in one place, so handlers stay thin.

Names and meanings are documented in docs/architecture.md (Configuration).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from common.errors import FatalError


class ConfigError(FatalError):
    """A required environment variable is missing or malformed."""


def require_env(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ConfigError(f"environment variable {name} is required but not set")
    return value


@dataclass(frozen=True)
class IntSetting:
    """An integer environment variable: its name, default and allowed range (inclusive).

    Read when the configuration is read, before any client or connection is made, so a
    bad value fails naming the variable and its range, not as an overflow deep in a run.
    """

    name: str
    default: int
    low: int
    high: int

    def read(self) -> int:
        raw = os.environ.get(self.name, "").strip()
        if not raw:
            return self.default
        allowed = f"an integer from {self.low} to {self.high}"
        try:
            value = int(raw)
        except ValueError as exc:
            raise ConfigError(f"environment variable {self.name} must be {allowed}, got {raw!r}") from exc
        if not self.low <= value <= self.high:
            raise ConfigError(f"environment variable {self.name} must be {allowed}, got {value}")
        return value


# How far below each watermark ingestion re-reads for late-committing transactions: at
# most a day, beyond which the recent-keys set and every run's re-read grow needlessly.
LOOKBACK_SECONDS = IntSetting("LOOKBACK_SECONDS", 900, 0, 86_400)
# A source row stamped more than this after a run's start is reported as from the future.
FUTURE_TOLERANCE_SECONDS = IntSetting("FUTURE_TOLERANCE_SECONDS", 300, 0, 86_400)


@dataclass(frozen=True)
class IngestionConfig:
    ingest_bucket: str
    ssm_prefix: str
    source_db_secret: str
    source_tables: str | None
    lookback_seconds: int
    future_tolerance_seconds: int

    @classmethod
    def from_env(cls) -> IngestionConfig:
        return cls(
            ingest_bucket=require_env("INGEST_BUCKET"),
            ssm_prefix=require_env("SSM_PREFIX").rstrip("/"),
            source_db_secret=require_env("SOURCE_DB_SECRET"),
            source_tables=os.environ.get("SOURCE_TABLES") or None,
            lookback_seconds=LOOKBACK_SECONDS.read(),
            future_tolerance_seconds=FUTURE_TOLERANCE_SECONDS.read(),
        )


@dataclass(frozen=True)
class TransformConfig:
    ingest_bucket: str
    processed_bucket: str

    @classmethod
    def from_env(cls) -> TransformConfig:
        return cls(
            ingest_bucket=require_env("INGEST_BUCKET"),
            processed_bucket=require_env("PROCESSED_BUCKET"),
        )


@dataclass(frozen=True)
class LoadConfig:
    processed_bucket: str
    warehouse_db_secret: str

    @classmethod
    def from_env(cls) -> LoadConfig:
        return cls(
            processed_bucket=require_env("PROCESSED_BUCKET"),
            warehouse_db_secret=require_env("WAREHOUSE_DB_SECRET"),
        )
