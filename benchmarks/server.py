"""The benchmarks' throwaway PostgreSQL: verify-full TLS like every real connection, or off.

``BENCH_TLS=off`` (``make bench BENCH_ARGS="--tls off"``) starts it without TLS, for the
side-by-side figure of what TLS costs each stage (docs/benchmarks.md); children inherit
the variable, and every connection's credentials follow the server (``sslmode``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from local.moto_server import MotoServer, start_moto
from local.postgres_server import PostgresServer, start_postgres

TLS_ENV = "BENCH_TLS"


def bench_tls() -> bool:
    return os.environ.get(TLS_ENV, "on").strip().lower() != "off"


def start_bench_postgres(data_dir: Path) -> PostgresServer:
    """fsync off (benchmarks keep no data), TLS unless ``BENCH_TLS=off``."""
    return start_postgres(data_dir, fast=True, tls=bench_tls())


@contextmanager
def bench_servers(pg_dir: Path) -> Iterator[tuple[PostgresServer, MotoServer]]:
    """The bench PostgreSQL in ``pg_dir`` and a moto server, stopped (and the server's files removed) after.

    The environment is put back as it was: ``benchmarks.run`` calls several areas in one process.
    """
    server = start_bench_postgres(pg_dir)
    moto = start_moto()
    saved_env = dict(os.environ)
    try:
        yield server, moto
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        moto.stop()
        server.stop()
        server.remove_files()  # the data folder and its log, password and CA files beside it
