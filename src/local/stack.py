"""The local stack: one PostgreSQL server (databases ``totesys`` and ``warehouse``) and
one moto server, shared by the CLI (``totes local up``), ``make run`` and the tests.

Roles mirror production: the pipeline reads totesys as ``totes_reader`` (SELECT only,
SPEC §1: read-only access) and writes the warehouse as ``warehouse_loader`` (owner of
the warehouse database); the analytics app reads the warehouse as ``warehouse_reader``
(migration 004 grants it SELECT on the star schema and ``analytics`` only). Connection
details go to ``.local/stack.json`` (documented in the README) so other commands and the
user can find a stack left running.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pg8000.native
from pg8000.native import identifier, literal

from common.db import DbCredentials, connect
from load.schema import migrate
from local.moto_server import MotoServer, start_moto
from local.paths import LOCAL_DIR, SQL_DIR, STACK_FILE
from local.postgres_server import PostgresServer, start_postgres

SOURCE_ROLE = "totes_reader"
WAREHOUSE_ROLE = "warehouse_loader"
READER_ROLE = "warehouse_reader"


@dataclass
class StackDetails:
    """What a running stack is and how to reach it (the content of ``.local/stack.json``)."""

    pg_data_dir: str
    pg_port: int
    pg_superuser_password: str
    source: dict[str, object]  # DbCredentials fields for totes_reader on totesys
    warehouse: dict[str, object]  # DbCredentials fields for warehouse_loader on warehouse
    moto_endpoint: str
    moto_pid: int | None = None
    aws_env: dict[str, str] = field(default_factory=dict)
    pg_ca_file: str | None = None  # the throwaway CA the server's certificate chains to
    reader: dict[str, object] = field(default_factory=dict)  # warehouse_reader on warehouse ({} if older stack)

    @property
    def source_credentials(self) -> DbCredentials:
        return DbCredentials(**self.source)  # type: ignore[arg-type]

    @property
    def warehouse_credentials(self) -> DbCredentials:
        return DbCredentials(**self.warehouse)  # type: ignore[arg-type]

    def admin_credentials(self, database: str) -> DbCredentials:
        """The superuser on ``database`` (the generator and simulator write totesys; the pipeline cannot)."""
        return self.server().credentials(database)

    def server(self) -> PostgresServer:
        return PostgresServer(
            data_dir=Path(self.pg_data_dir),
            port=self.pg_port,
            password=self.pg_superuser_password,
            ca_file=Path(self.pg_ca_file) if self.pg_ca_file else None,
        )

    @property
    def reader_credentials(self) -> DbCredentials | None:
        return DbCredentials(**self.reader) if self.reader else None  # type: ignore[arg-type]

    def write(self, path: Path = STACK_FILE) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2))
        path.chmod(0o600)  # holds local-only passwords

    @classmethod
    def read(cls, path: Path = STACK_FILE) -> StackDetails:
        if not path.exists():
            raise FileNotFoundError(f"no local stack is up ({path} not found); run `totes local up` first")
        return cls(**json.loads(path.read_text()))


def _create_role(admin: pg8000.native.Connection, role: str, password: str) -> None:
    exists = admin.run("SELECT 1 FROM pg_roles WHERE rolname = :r", r=role)
    # CREATE/ALTER ROLE cannot take bind parameters: the name is a constant of this
    # module and the password is quoted with pg8000's literal().
    verb = "ALTER" if exists else "CREATE"
    admin.run(f"{verb} ROLE {identifier(role)} LOGIN PASSWORD {literal(password)}")


def _create_database(admin: pg8000.native.Connection, name: str, owner: str | None = None) -> bool:
    if admin.run("SELECT 1 FROM pg_database WHERE datname = :d", d=name):
        return False
    owner_clause = f" OWNER {identifier(owner)}" if owner else ""
    admin.run(f"CREATE DATABASE {identifier(name)}{owner_clause}")
    return True


def create_source_database(server: PostgresServer, name: str, reader_password: str) -> None:
    """Create totesys (schema of SPEC §1) with a read-only role for the pipeline."""
    admin = server.connect()
    try:
        _create_role(admin, SOURCE_ROLE, reader_password)
        created = _create_database(admin, name)
    finally:
        admin.close()
    con = server.connect(name)
    try:
        if created:
            con.execute_simple((SQL_DIR / "totesys" / "schema.sql").read_text())
        con.run(f"GRANT CONNECT ON DATABASE {identifier(name)} TO {identifier(SOURCE_ROLE)}")
        con.run(f"GRANT USAGE ON SCHEMA public TO {identifier(SOURCE_ROLE)}")
        con.run(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {identifier(SOURCE_ROLE)}")
    finally:
        con.close()


def create_warehouse_database(
    server: PostgresServer, name: str, loader_password: str, reader_password: str | None = None
) -> list[str]:
    """Create the warehouse owned by the loader role and apply the migrations.

    The app's read-only role is created here, as superuser, with ``reader_password`` (a
    random one if None): migration 004 would need CREATEROLE, which the loader has not.
    """
    admin = server.connect()
    try:
        _create_role(admin, WAREHOUSE_ROLE, loader_password)
        _create_role(admin, READER_ROLE, reader_password or secrets.token_urlsafe(18))
        _create_database(admin, name, owner=WAREHOUSE_ROLE)
    finally:
        admin.close()
    con = connect(server.credentials(name, WAREHOUSE_ROLE, loader_password), "totes-migrate")
    try:
        return migrate(con)
    finally:
        con.close()


class LocalStack:
    """Start and stop the whole local stack.

    Parameters
    ----------
    root
        Folder for server data (git-ignored ``.local`` by default).
    fast
        Tests only: PostgreSQL without fsync.
    detached
        Run moto as its own process so the stack outlives this one (``totes local up``).
    """

    def __init__(self, root: Path = LOCAL_DIR, *, fast: bool = False, detached: bool = False) -> None:
        self.root = root
        self.fast = fast
        self.detached = detached
        self.postgres: PostgresServer | None = None
        self.moto: MotoServer | None = None
        self.details: StackDetails | None = None

    def up(self, source_db: str = "totesys", warehouse_db: str = "warehouse") -> StackDetails:
        self.root.mkdir(parents=True, exist_ok=True)
        self.postgres = start_postgres(self.root / "pg", fast=self.fast)
        try:
            reader_pw, loader_pw = secrets.token_urlsafe(18), secrets.token_urlsafe(18)
            app_pw = secrets.token_urlsafe(18)
            create_source_database(self.postgres, source_db, reader_pw)
            create_warehouse_database(self.postgres, warehouse_db, loader_pw, app_pw)
            self.moto = start_moto(detached=self.detached)
        except BaseException:
            self.down()
            raise
        pg = self.postgres
        self.details = StackDetails(
            pg_data_dir=str(pg.data_dir),
            pg_port=pg.port,
            pg_superuser_password=pg.password,
            source=asdict(pg.credentials(source_db, SOURCE_ROLE, reader_pw)),
            warehouse=asdict(pg.credentials(warehouse_db, WAREHOUSE_ROLE, loader_pw)),
            moto_endpoint=self.moto.endpoint,
            moto_pid=self.moto.pid,
            aws_env=self.moto.env(),
            pg_ca_file=str(pg.ca_file) if pg.ca_file else None,
            reader=asdict(pg.credentials(warehouse_db, READER_ROLE, app_pw)),
        )
        return self.details

    def down(self, *, wipe: bool = False) -> None:
        if self.moto is not None:
            self.moto.stop()
            self.moto = None
        if self.postgres is not None:
            self.postgres.stop()
            if wipe:
                self.postgres.remove_files()
            self.postgres = None

    def __enter__(self) -> StackDetails:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down()


def stop_detached(details: StackDetails, *, wipe: bool = False) -> None:
    """Stop a stack that ``totes local up`` left running, from its details file; ``wipe``: delete its data."""
    MotoServer(port=int(details.moto_endpoint.rsplit(":", 1)[1]), pid=details.moto_pid).stop()
    server = details.server()
    server.stop()
    if wipe:
        server.remove_files()
