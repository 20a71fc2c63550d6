"""The benchmarks' throwaway PostgreSQL: verify-full TLS like every real connection, or off.

``BENCH_TLS=off`` (``make bench BENCH_ARGS="--tls off"``) starts it without TLS, for the
side-by-side figure of what TLS costs each stage (docs/benchmarks.md); children inherit
the variable, and every connection's credentials follow the server (``sslmode``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from local.moto_server import MotoServer, start_moto
from local.postgres_server import PostgresServer, start_postgres

TLS_ENV = "BENCH_TLS"


def bench_tls() -> bool:
    return os.environ.get(TLS_ENV, "on").strip().lower() != "off"


def start_bench_postgres(data_dir: Path) -> PostgresServer:
    """fsync off (benchmarks keep no data), TLS unless ``BENCH_TLS=off``."""
    return start_postgres(data_dir, fast=True, tls=bench_tls())


def server_json_connector(path: Path, application_name: str) -> Callable[[str], Callable[[], Any]]:
    """For a running server described by ``path`` (JSON: host, port, user, password, ca of a
    superuser over TLS; ``benchmarks/lagging_warehouse.py`` writes one): a database name -> a
    function that opens a new connection to it."""
    from common.db import DbCredentials, connect

    server = json.loads(path.read_text())

    def connector(db: str) -> Callable[[], Any]:
        creds = DbCredentials(
            server.get("host", "127.0.0.1"), server["port"], server["user"], server["password"], db, "verify-full",
            server["ca"],
        )  # fmt: skip
        return lambda: connect(creds, application_name)

    return connector


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
