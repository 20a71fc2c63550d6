"""The benchmarks' throwaway PostgreSQL: verify-full TLS like every real connection, or off.

``BENCH_TLS=off`` (``make bench BENCH_ARGS="--tls off"``) starts it without TLS, for the
side-by-side figure of what TLS costs each stage (docs/benchmarks.md); children inherit
the variable, and every connection's credentials follow the server (``sslmode``).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from local.moto_server import MotoServer, start_moto
from local.postgres_server import PostgresServer, start_postgres

if TYPE_CHECKING:
    from common.config import PipelineResources
    from common.db import DbCredentials
    from common.s3_store import LakeStore

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


@dataclass(frozen=True)
class InProcessPipeline:
    """The pipeline's resources in moto, its ingestion and transform run in this process."""

    resources: PipelineResources
    s3: Any

    @property
    def processed(self) -> LakeStore:
        """The processed bucket, as ``run_load`` reads it."""
        from common.s3_store import LakeStore

        return LakeStore(self.resources.processed_bucket, self.s3)

    def cycle(self) -> None:
        """One ingestion run, then transform of what it committed."""
        import ingestion.handler
        import transform.handler

        with contextlib.redirect_stdout(io.StringIO()):  # the handlers' EMF metric lines
            ingestion.handler.lambda_handler({}, None)
            transform.handler.lambda_handler({}, None)


def in_process_pipeline(
    moto: MotoServer, prefix: str, source: DbCredentials, warehouse: DbCredentials
) -> InProcessPipeline:
    """Provision the pipeline's buckets, parameters and secrets in ``moto`` (names from ``prefix``
    and a random suffix) and point this process's environment at them, as a handler's is."""
    import boto3

    from common.config import PipelineResources
    from local.aws_resources import provision
    from local.moto_server import REGION

    os.environ.update(moto.env())
    resources = PipelineResources.for_prefix(f"{prefix}{uuid.uuid4().hex[:6]}")
    clients = {
        n: boto3.client(n, region_name=REGION, endpoint_url=moto.endpoint) for n in ("s3", "ssm", "secretsmanager")
    }
    provision(**clients, resources=resources, source=source, warehouse=warehouse)
    os.environ.update(resources.handler_env())
    return InProcessPipeline(resources, clients["s3"])
