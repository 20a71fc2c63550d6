"""Apply the warehouse migrations (``sql/warehouse/NNN_*.sql``) in order, once each.

Idempotent: applied files are recorded in ``pipeline.schema_migrations`` with their
checksum; a changed file that was already applied is an error, not a silent re-run.
An advisory lock makes two concurrent ``migrate`` calls safe.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pg8000.native

from local.paths import SQL_DIR

WAREHOUSE_MIGRATIONS = SQL_DIR / "warehouse"
_LOCK_KEY = 7_130_001  # any constant shared by every migrator of this warehouse


class MigrationError(RuntimeError):
    """A migration failed, or an applied migration file was edited afterwards."""


@dataclass(frozen=True)
class Migration:
    version: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def discover(folder: Path = WAREHOUSE_MIGRATIONS) -> list[Migration]:
    return [Migration(p.stem, p) for p in sorted(folder.glob("[0-9][0-9][0-9]_*.sql"))]


def migrate(con: pg8000.native.Connection, folder: Path = WAREHOUSE_MIGRATIONS) -> list[str]:
    """Apply pending migrations; return the versions applied now (empty when up to date)."""
    con.run("CREATE SCHEMA IF NOT EXISTS pipeline")
    con.run(
        "CREATE TABLE IF NOT EXISTS pipeline.schema_migrations ("
        " version text PRIMARY KEY, checksum text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())"
    )
    applied_now: list[str] = []
    con.run("SELECT pg_advisory_lock(:k)", k=_LOCK_KEY)
    try:
        applied = dict(con.run("SELECT version, checksum FROM pipeline.schema_migrations"))
        for m in discover(folder):
            if m.version in applied:
                if applied[m.version] != m.checksum:
                    raise MigrationError(
                        f"migration {m.path.name} was edited after it was applied; add a new migration instead"
                    )
                continue
            con.run("BEGIN")
            try:
                con.execute_simple(m.sql)
                con.run(
                    "INSERT INTO pipeline.schema_migrations (version, checksum) VALUES (:v, :c)",
                    v=m.version,
                    c=m.checksum,
                )
                con.run("COMMIT")
            except Exception as exc:
                con.run("ROLLBACK")
                raise MigrationError(f"migration {m.path.name} failed: {exc}") from exc
            applied_now.append(m.version)
    finally:
        con.run("SELECT pg_advisory_unlock(:k)", k=_LOCK_KEY)
    return applied_now
