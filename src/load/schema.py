"""The warehouse schema: apply the migrations (``sql/warehouse/NNN_*.sql``) and check them.

The migrations ship with the load stage: ``lambda_build.zips`` puts
``sql/warehouse/`` into the load zip, so the deployed load function can apply them
(event ``{"action": "migrate"}``, invoked by ``totes migrate --outputs`` after each
deploy) and knows which schema version its code needs.

Idempotent: applied files are recorded in ``pipeline.schema_migrations`` with their
checksum; a changed file that was already applied is an error, not a silent re-run.
An advisory lock makes two concurrent ``migrate`` calls safe, and ``migrate`` also
takes the load lock, so a migration never runs under a load's feet.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pg8000.exceptions
import pg8000.native

from load.errors import MigrationBusyError, MigrationError, WarehouseSchemaError, refusal_reason
from load.lock import load_lock

# In the load zip, sql/ sits next to the packages; in a checkout, next to src/.
_PACKAGED = Path(__file__).resolve().parents[1] / "sql" / "warehouse"
_CHECKOUT = Path(__file__).resolve().parents[2] / "sql" / "warehouse"
_LOCK_KEY = 7_130_001  # any constant shared by every migrator of this warehouse
MIGRATE_LOCK_WAIT_SECONDS = 600  # a migration waits for a running load to finish, up to this

MIGRATE_COMMAND = "totes migrate --outputs outputs.json"
MIGRATE_HINT = (
    f"apply the migrations first: `{MIGRATE_COMMAND}` (Terraform outputs of the deployment; it invokes the "
    'load function with {"action": "migrate"}), or `totes migrate` for the local stack'
)


def migrations_dir() -> Path:
    """``sql/warehouse`` of the running code: the zip's copy in Lambda, the repository's in a checkout."""
    for folder in (_PACKAGED, _CHECKOUT):
        if folder.is_dir():
            return folder
    raise MigrationError(f"no warehouse migrations next to the code (looked in {_PACKAGED} and {_CHECKOUT})")


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


def discover(folder: Path | None = None) -> list[Migration]:
    return [Migration(p.stem, p) for p in sorted((folder or migrations_dir()).glob("[0-9][0-9][0-9]_*.sql"))]


def applied_versions(con: pg8000.native.Connection) -> set[str]:
    """The migrations recorded in the warehouse (empty when it was never migrated)."""
    exists = con.run("SELECT to_regclass('pipeline.schema_migrations') IS NOT NULL")[0][0]
    return {row[0] for row in con.run("SELECT version FROM pipeline.schema_migrations")} if exists else set()


def ensure_schema_current(con: pg8000.native.Connection, folder: Path | None = None) -> None:
    """Raise ``WarehouseSchemaError`` if a migration of this code is not applied; read-only.

    A warehouse *ahead* of the code (a newer migration applied, the code rolled back) is
    accepted: migrations only add.
    """
    missing = [m.version for m in discover(folder) if m.version not in applied_versions(con)]
    if missing:
        raise WarehouseSchemaError(
            f"the warehouse schema is older than this code: migration(s) {', '.join(missing)} not applied; "
            f"nothing was loaded. {MIGRATE_HINT}"
        )


def migrate(
    con: pg8000.native.Connection,
    folder: Path | None = None,
    *,
    load_lock_wait_seconds: float = MIGRATE_LOCK_WAIT_SECONDS,
) -> list[str]:
    """Apply pending migrations; return the versions applied now (empty when up to date)."""
    applied_now: list[str] = []
    con.run("SELECT pg_advisory_lock(:k)", k=_LOCK_KEY)
    try:
        con.run("CREATE SCHEMA IF NOT EXISTS pipeline")
        con.run(
            "CREATE TABLE IF NOT EXISTS pipeline.schema_migrations ("
            " version text PRIMARY KEY, checksum text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        with load_lock(con, load_lock_wait_seconds) as locked:
            if not locked:
                raise MigrationBusyError(f"a load held the warehouse for {load_lock_wait_seconds:.0f} s; try again")
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
                except (pg8000.exceptions.Error, OSError) as exc:
                    con.run("ROLLBACK")
                    raise MigrationError(f"migration {m.path.name} failed: {refusal_reason(exc)}") from exc
                applied_now.append(m.version)
    finally:
        con.run("SELECT pg_advisory_unlock(:k)", k=_LOCK_KEY)
    return applied_now
