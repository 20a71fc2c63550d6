"""Settings read from the environment, in one place, so handlers stay thin.

Names and meanings are documented in docs/architecture.md (Configuration).
"""

from __future__ import annotations

import os
from dataclasses import dataclass


class ConfigError(RuntimeError):
    """A required environment variable is missing or malformed."""


def require_env(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ConfigError(f"environment variable {name} is required but not set")
    return value


def int_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"environment variable {name} must be an integer, got {raw!r}") from exc


@dataclass(frozen=True)
class IngestionConfig:
    ingest_bucket: str
    ssm_prefix: str
    source_db_secret: str
    source_tables: str | None
    lookback_seconds: int

    @classmethod
    def from_env(cls) -> IngestionConfig:
        return cls(
            ingest_bucket=require_env("INGEST_BUCKET"),
            ssm_prefix=require_env("SSM_PREFIX").rstrip("/"),
            source_db_secret=require_env("SOURCE_DB_SECRET"),
            source_tables=os.environ.get("SOURCE_TABLES") or None,
            lookback_seconds=int_env("LOOKBACK_SECONDS", 900),
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
