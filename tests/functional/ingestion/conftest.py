"""Fixtures and helpers for ingestion tests on the real stack (PostgreSQL + moto).

``ingest`` runs the real ``run_ingestion`` against the test's totesys and buckets
with a clock the test moves by hand; helpers read back what the lake committed.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pg8000.native
import pytest

from common.s3_store import LakeStore
from common.source_tables import SourceTable, resolve_tables
from ingestion.compare import ComparisonResult
from ingestion.run import IngestionResult, run_compare, run_ingestion
from lake.keys import committed_runs, run_key

T0 = datetime(2026, 3, 1, 12, 0, 0)


class ManualClock:
    """A clock the test sets; every read returns the current setting."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def ts(moment: datetime) -> str:
    """SQL text of a timestamp(3) value (bound as a parameter and cast)."""
    return moment.isoformat(timespec="milliseconds")


@dataclass
class Ingest:
    """Run ingestion against the test pipeline and inspect the ingest bucket."""

    pipeline: Any
    postgres: Any
    clock: ManualClock = field(default_factory=ManualClock)

    @property
    def store(self) -> LakeStore:
        return LakeStore(self.pipeline.resources.ingest_bucket, self.pipeline.aws.s3)

    @property
    def prefix(self) -> str:
        return self.pipeline.resources.ssm_prefix

    def run(
        self,
        *,
        store: LakeStore | None = None,
        ssm: Any = None,
        tables: tuple[SourceTable, ...] | None = None,
        lookback: timedelta = timedelta(seconds=900),
        clock: Callable[[], datetime] | None = None,
        **kwargs: Any,
    ) -> IngestionResult:
        con = self.pipeline.source.connect()
        try:
            return run_ingestion(
                store=store or self.store,
                ssm=ssm or self.pipeline.aws.ssm,
                connection=con,
                ssm_prefix=self.prefix,
                tables=tables or resolve_tables(None),
                lookback=lookback,
                clock=clock or self.clock,
                **kwargs,
            )
        finally:
            con.close()

    def compare(
        self,
        *,
        store: LakeStore | None = None,
        tables: tuple[SourceTable, ...] | None = None,
        connection: pg8000.native.Connection | None = None,
        **kwargs: Any,
    ) -> ComparisonResult:
        """One comparison of the source with the lake (``ingestion.run.run_compare``)."""
        con = connection or self.pipeline.source.connect()
        try:
            return run_compare(
                store=store or self.store,
                ssm=self.pipeline.aws.ssm,
                connection=con,
                ssm_prefix=self.prefix,
                tables=tables or resolve_tables(None),
                clock=self.clock,
                **kwargs,
            )
        finally:
            con.close()

    # -- the source ------------------------------------------------------------
    @property
    def admin(self) -> pg8000.native.Connection:
        return self.pipeline.source.admin

    def add_currency(self, code: str, last_updated: datetime, con: pg8000.native.Connection | None = None) -> int:
        """Insert a currency row (on ``con``, e.g. a connection holding an open transaction)."""
        return (con or self.admin).run(
            "INSERT INTO currency (currency_code, created_at, last_updated)"
            " VALUES (:c, CAST(:t AS timestamp), CAST(:t AS timestamp)) RETURNING currency_id",
            c=code,
            t=ts(last_updated),
        )[0][0]

    def insert(self, table: str, con: pg8000.native.Connection | None = None, **values: Any) -> int:
        """Insert one row (values bound as parameters); return its id."""
        names = list(values)
        cols = ", ".join(pg8000.native.identifier(n) for n in names)
        params = ", ".join(f":p{i}" for i in range(len(names)))
        sql = (
            f"INSERT INTO {pg8000.native.identifier(table)} ({cols}) VALUES ({params})"
            f" RETURNING {pg8000.native.identifier(table + '_id')}"
        )
        return (con or self.admin).run(sql, **{f"p{i}": values[n] for i, n in enumerate(names)})[0][0]

    def add_department(self, name: str, last_updated: datetime, con: pg8000.native.Connection | None = None) -> int:
        return self.insert(
            "department", con, department_name=name, location="Leeds", manager=None,
            created_at=last_updated, last_updated=last_updated,
        )  # fmt: skip

    def touch(
        self, table: str, row_id: int, last_updated: datetime, con: pg8000.native.Connection | None = None
    ) -> None:
        """Set a row's last_updated: an update in the source."""
        t, pk = pg8000.native.identifier(table), pg8000.native.identifier(f"{table}_id")
        (con or self.admin).run(
            f"UPDATE {t} SET last_updated = CAST(:t AS timestamp) WHERE {pk} = :i", t=ts(last_updated), i=row_id
        )

    def source_versions(self, table: str) -> Counter[tuple[int, str]]:
        """(id, last_updated) of every row now in the source table, rendered as the lake renders them."""
        t, pk = pg8000.native.identifier(table), pg8000.native.identifier(f"{table}_id")
        rows = self.admin.run(f"SELECT {pk}, to_char(last_updated, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS') FROM {t}")
        return Counter((r[0], r[1]) for r in rows)

    def second_connection(self) -> pg8000.native.Connection:
        """Another superuser connection to totesys (to hold a transaction open)."""
        return self.postgres.connect(self.pipeline.source.name)

    # -- the lake and SSM ----------------------------------------------------------
    def ssm(self, leaf: str) -> str:
        return self.pipeline.aws.ssm.get_parameter(Name=f"{self.prefix}/ingestion/{leaf}")["Parameter"]["Value"]

    def manifests(self) -> list[dict[str, Any]]:
        return [self.store.get_json(run_key(seq)) for seq in committed_runs(self.store)]

    def rows(self, manifest: dict[str, Any], table: str) -> list[dict[str, Any]]:
        key = manifest["tables"].get(table, {}).get("key")
        if key is None:
            return []
        return [json.loads(line) for line in gzip.decompress(self.store.get_bytes(key)).decode().splitlines()]

    def committed_rows(self, table: str) -> list[dict[str, Any]]:
        """Every row of ``table`` in every committed manifest, in run order."""
        return [row for m in self.manifests() for row in self.rows(m, table)]

    def committed_versions(self, table: str) -> Counter[tuple[int, str]]:
        return Counter((r[f"{table}_id"], r["last_updated"]) for r in self.committed_rows(table))

    def key_versions(self) -> dict[str, int]:
        """Versions per key in the (versioned) ingest bucket: more than one = an overwrite."""
        counts: Counter[str] = Counter()
        paginator = self.pipeline.aws.s3.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=self.pipeline.resources.ingest_bucket):
            for version in page.get("Versions", []):
                counts[version["Key"]] += 1
        return dict(counts)


@pytest.fixture
def ingest(pipeline: Any, stack: Any) -> Ingest:
    return Ingest(pipeline, stack.postgres)


class InjectedCrashError(RuntimeError):
    """The failure a test injects at an AWS boundary (stands for a Lambda dying there)."""


class CrashingStore(LakeStore):
    """The ingest bucket, except that the put for which ``crash_before`` says so raises.

    ``before_put`` (optional) runs just before each put: used to interleave another run.
    """

    def __init__(
        self,
        store: LakeStore,
        crash_before: Callable[[str, int], bool] = lambda key, n: False,
        before_put: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(store.bucket, store.client)
        self.crash_before = crash_before
        self.before_put = before_put
        self.puts: list[str] = []

    def put_new(
        self, key: str, body: Any, content_type: str = "application/octet-stream", metadata: Any = None
    ) -> None:
        if self.before_put is not None:
            self.before_put(key)
        if self.crash_before(key, len(self.puts)):
            raise InjectedCrashError(f"crash before creating {key}")
        super().put_new(key, body, content_type, metadata)
        self.puts.append(key)


class CrashingSsm:
    """A boto3 SSM client whose ``put_parameter`` number ``crash_at`` (0-based) raises.

    ``before_put`` (optional) runs before each put_parameter (to interleave another run).
    """

    def __init__(self, client: Any, crash_at: int | None = None, before_put: Callable[[], None] | None = None) -> None:
        self.client = client
        self.crash_at = crash_at
        self.before_put = before_put
        self.puts = 0

    def get_parameter(self, **kwargs: Any) -> Any:
        return self.client.get_parameter(**kwargs)

    def put_parameter(self, **kwargs: Any) -> Any:
        if self.before_put is not None:
            self.before_put()
        n, self.puts = self.puts, self.puts + 1
        if n == self.crash_at:
            raise InjectedCrashError(f"crash before SSM put {n} ({kwargs['Name']})")
        return self.client.put_parameter(**kwargs)


@pytest.fixture
def faults() -> SimpleNamespace:
    """Crash injection at the AWS boundary: ``faults.store``, ``faults.ssm``, ``faults.error``."""
    return SimpleNamespace(store=CrashingStore, ssm=CrashingSsm, error=InjectedCrashError)
