"""The benchmarks' throwaway PostgreSQL: verify-full TLS like every real connection, or off.

``BENCH_TLS=off`` (``make bench BENCH_ARGS="--tls off"``) starts it without TLS, for the
side-by-side figure of what TLS costs each stage (docs/benchmarks.md); children inherit
the variable, and every connection's credentials follow the server (``sslmode``).
"""

from __future__ import annotations

import os
from pathlib import Path

from local.postgres_server import PostgresServer, start_postgres

TLS_ENV = "BENCH_TLS"


def bench_tls() -> bool:
    return os.environ.get(TLS_ENV, "on").strip().lower() != "off"


def start_bench_postgres(data_dir: Path) -> PostgresServer:
    """fsync off (benchmarks keep no data), TLS unless ``BENCH_TLS=off``."""
    return start_postgres(data_dir, fast=True, tls=bench_tls())
