"""Settings read from the environment, in one place, so handlers stay thin.

Names and meanings are documented in docs/architecture.md (Configuration).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

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
# At most this many rows of first snapshots per ingestion run (a bigger table's first snapshot
# is taken in key ranges over several runs). The default is what every stage handles in
# half its timeout at its default memory (docs/architecture.md, "Limits of one invocation").
SNAPSHOT_ROWS_PER_RUN = IntSetting("SNAPSHOT_ROWS_PER_RUN", 4_000_000, 1, 1_000_000_000)


# Exchange rates (issue 17, docs/ingestion.md "Exchange rates"): dates asked of the API per
# run, the per-request timeout, tries per request (a 5xx or a timeout is retried with
# exponential backoff), and the runs a date the API lacks is asked again before it is given up.
FX_MAX_DATES_PER_RUN = IntSetting("FX_MAX_DATES_PER_RUN", 60, 1, 5_000)
FX_TIMEOUT_SECONDS = IntSetting("FX_TIMEOUT_SECONDS", 10, 1, 120)
FX_MAX_TRIES = IntSetting("FX_MAX_TRIES", 3, 1, 10)
FX_MISSING_RETRIES = IntSetting("FX_MISSING_RETRIES", 5, 1, 1_000)


@dataclass(frozen=True)
class FxRatesConfig:
    """The exchange-rate step's settings; ``url_template`` None (``FX_RATES_URL`` unset) turns it off.

    The template has ``{date}`` (YYYY-MM-DD) and ``{base}`` (lower-case code) placeholders,
    e.g. ``https://cdn.jsdelivr.net/npm/@fawazahmed0/currency-api@{date}/v1/currencies/{base}.json``.
    """

    url_template: str | None
    max_dates_per_run: int = FX_MAX_DATES_PER_RUN.default
    timeout_seconds: float = FX_TIMEOUT_SECONDS.default
    max_tries: int = FX_MAX_TRIES.default
    missing_retries: int = FX_MISSING_RETRIES.default

    @classmethod
    def from_env(cls) -> FxRatesConfig:
        template = os.environ.get("FX_RATES_URL", "").strip() or None
        if template is not None:
            check_fx_url_template(template)
        return cls(
            url_template=template,
            max_dates_per_run=FX_MAX_DATES_PER_RUN.read(),
            timeout_seconds=FX_TIMEOUT_SECONDS.read(),
            max_tries=FX_MAX_TRIES.read(),
            missing_retries=FX_MISSING_RETRIES.read(),
        )


_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def check_fx_url_template(template: str) -> None:
    """HTTPS with ``{date}`` and ``{base}``; plain HTTP only to this machine (the local stack's server)."""
    if "{date}" not in template or "{base}" not in template:
        raise ConfigError(f"FX_RATES_URL must contain {{date}} and {{base}}, got {template!r}")
    parts = urlsplit(template.replace("{date}", "2000-01-01").replace("{base}", "gbp"))
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme != "http" or parts.hostname not in _LOOPBACK_HOSTS:
        raise ConfigError(f"FX_RATES_URL must be an https:// URL (http:// only to 127.0.0.1), got {template!r}")


@dataclass(frozen=True)
class IngestionConfig:
    ingest_bucket: str
    ssm_prefix: str
    source_db_secret: str
    source_tables: str | None
    lookback_seconds: int
    future_tolerance_seconds: int
    snapshot_rows_per_run: int = SNAPSHOT_ROWS_PER_RUN.default

    @classmethod
    def from_env(cls) -> IngestionConfig:
        return cls(
            ingest_bucket=require_env("INGEST_BUCKET"),
            ssm_prefix=require_env("SSM_PREFIX").rstrip("/"),
            source_db_secret=require_env("SOURCE_DB_SECRET"),
            source_tables=os.environ.get("SOURCE_TABLES") or None,
            lookback_seconds=LOOKBACK_SECONDS.read(),
            future_tolerance_seconds=FUTURE_TOLERANCE_SECONDS.read(),
            snapshot_rows_per_run=SNAPSHOT_ROWS_PER_RUN.read(),
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


@dataclass(frozen=True)
class PipelineResources:
    """The resources of one deployed pipeline by name: what the handlers' environment points at.

    In AWS (or Terraform applied to moto) the names come from Terraform's outputs
    (``from_terraform_outputs``); ``handler_env`` gives the variables the ``*Config``
    classes above read, so one class owns both sides of that contract.
    """

    ingest_bucket: str
    processed_bucket: str
    ssm_prefix: str
    source_db_secret: str
    warehouse_db_secret: str

    @classmethod
    def for_prefix(cls, prefix: str) -> PipelineResources:
        return cls(
            ingest_bucket=f"{prefix}-ingest",
            processed_bucket=f"{prefix}-processed",
            ssm_prefix=f"/{prefix}",
            source_db_secret=f"{prefix}/totesys-db",
            warehouse_db_secret=f"{prefix}/warehouse-db",
        )

    @classmethod
    def from_terraform_outputs(cls, outputs: dict[str, Any]) -> PipelineResources:
        def value(name: str) -> str:
            out = outputs[name]
            return str(out["value"] if isinstance(out, dict) else out)

        return cls(
            ingest_bucket=value("ingest_bucket_name"),
            processed_bucket=value("processed_bucket_name"),
            ssm_prefix=value("ssm_prefix"),
            source_db_secret=value("source_db_secret_name"),
            warehouse_db_secret=value("warehouse_db_secret_name"),
        )

    def handler_env(self) -> dict[str, str]:
        """The environment variables the Lambda handlers read (docs/architecture.md)."""
        return {
            "INGEST_BUCKET": self.ingest_bucket,
            "PROCESSED_BUCKET": self.processed_bucket,
            "SSM_PREFIX": self.ssm_prefix,
            "SOURCE_DB_SECRET": self.source_db_secret,
            "WAREHOUSE_DB_SECRET": self.warehouse_db_secret,
        }
