"""A throwaway PostgreSQL server from the system's binaries, for tests and local runs.

PostgreSQL refuses to run as root, so when we are root every server command runs
through ``runuser -u postgres``. The server listens on 127.0.0.1 only, on a free
port, with its data under a git-ignored folder; ``fast=True`` (tests only) turns off
fsync, which is unsafe for data anyone wants to keep and several times faster.
Subprocesses run fixed binaries with list arguments, never through a shell.

TLS as in AWS: every start makes a throwaway CA and a server certificate for
127.0.0.1/localhost (``local.tls``), turns ``ssl`` on and writes a ``pg_hba.conf`` that
accepts only ``hostssl`` logins with SCRAM passwords, so a plain connection is refused
and every client verifies the server (``sslmode=verify-full`` with the CA file next to
the data folder). ``tls=False`` exists only for the benchmarks' TLS-off baseline.

The ``postgres`` user must be able to reach that folder. A checkout inside a folder it
cannot traverse (root's home is mode 700) would make initdb fail with "Permission
denied", so the data then goes to ``<system temp>/totes-pg-<hash of the folder>/``
instead (``server_data_dir``): the same checkout finds it again, and
``PostgresServer.remove_files`` (``local down --wipe``) removes it.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import secrets
import shutil
import socket
import subprocess  # nosec B404
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pg8000.native

from common.db import DbCredentials, connect
from local.tls import issue_server_cert, make_ca

SUPERUSER = "postgres"
# Only TLS logins, with SCRAM passwords; anything else (a plain connection) is rejected.
PG_HBA_TLS = """\
# Written by local/postgres_server.py at every start: TLS only.
hostssl all all 127.0.0.1/32 scram-sha-256
hostnossl all all 0.0.0.0/0 reject
"""
# The benchmarks' TLS-off baseline only.
PG_HBA_PLAIN = """\
# Written by local/postgres_server.py (tls=False: the benchmarks' baseline only).
host all all 127.0.0.1/32 scram-sha-256
"""


class PostgresNotInstalledError(RuntimeError):
    """initdb/pg_ctl are not on this machine."""


def find_pg_bin(name: str) -> str:
    """Path of a PostgreSQL server binary: PATH first, then Debian's versioned folders."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    if candidates:
        return candidates[0]
    raise PostgresNotInstalledError(
        f"PostgreSQL server binary {name!r} not found. Install the PostgreSQL 15 server "
        "(Debian/Ubuntu: `apt-get install postgresql`; macOS: `brew install postgresql@15`) "
        "so that initdb and pg_ctl are on the PATH, then run the command again."
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_server_user(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        runuser = shutil.which("runuser") or "/usr/sbin/runuser"
        return [runuser, "-u", "postgres", "--", *cmd]
    return cmd


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(_as_server_user(cmd), capture_output=True, text=True, check=False)  # noqa: S603  # nosec B603
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:2])} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")


@dataclass
class PostgresServer:
    """A running (or stopped) server and how to reach it as the superuser."""

    data_dir: Path
    port: int
    password: str
    host: str = "127.0.0.1"
    user: str = SUPERUSER
    ca_file: Path | None = None  # the CA clients trust; None: a server without TLS (benchmark baseline)

    def credentials(
        self, database: str = "postgres", user: str | None = None, password: str | None = None
    ) -> DbCredentials:
        """How to reach ``database`` on this server (as the superuser unless ``user`` is given)."""
        return DbCredentials(
            host=self.host,
            port=self.port,
            username=user or self.user,
            password=password if user else self.password,
            dbname=database,
            sslmode="verify-full" if self.ca_file else "disable",
            sslrootcert=str(self.ca_file) if self.ca_file else None,
        )

    def connect(self, database: str = "postgres") -> pg8000.native.Connection:
        return connect(self.credentials(database), "totes-local-admin")

    @property
    def log_file(self) -> Path:
        return self.data_dir.parent / f"{self.data_dir.name}.log"

    def is_running(self) -> bool:
        pid_file = self.data_dir / "postmaster.pid"
        return pid_file.exists()

    def stop(self) -> None:
        if not self.data_dir.exists() or not self.is_running():
            return
        _run([find_pg_bin("pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "60"])

    def remove_files(self) -> None:
        """Delete the (stopped) server's files (``remove_data``)."""
        remove_data(self.data_dir)


_RELOCATED_PREFIX = "totes-pg-"


def remove_data(data_dir: Path) -> None:
    """Delete a (stopped) cluster's folder, its password, log and CA files, and a relocation folder left empty."""
    shutil.rmtree(data_dir, ignore_errors=True)
    for suffix in ("log", "password", "ca.pem"):
        (data_dir.parent / f"{data_dir.name}.{suffix}").unlink(missing_ok=True)
    parent = data_dir.parent
    if parent.name.startswith(_RELOCATED_PREFIX) and parent.parent == Path(tempfile.gettempdir()):
        with contextlib.suppress(OSError):  # something else lives there still
            parent.rmdir()


def _server_user_can_enter(folder: Path) -> bool:
    """Whether the ``postgres`` user can traverse to ``folder`` (the nearest existing ancestor is tried)."""
    while not folder.exists():
        folder = folder.parent
    probe = _as_server_user(["test", "-x", str(folder)])
    return subprocess.run(probe, capture_output=True, check=False).returncode == 0  # noqa: S603  # nosec B603


def server_data_dir(wanted: Path) -> Path:
    """Where the data of a server asked for at ``wanted`` lives: ``wanted`` itself, unless
    we are root and the ``postgres`` user cannot reach it; then a folder of its own under
    the system temp directory, keyed by ``wanted`` (traversable by everyone, sticky)."""
    wanted = wanted.resolve()
    if os.geteuid() != 0 or _server_user_can_enter(wanted.parent):
        return wanted
    key = hashlib.sha256(str(wanted).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"{_RELOCATED_PREFIX}{key}" / wanted.name


def _prepare_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(path, user="postgres", group="postgres")


def _write_server_file(path: Path, data: bytes, mode: int) -> None:
    """A file the server reads: owned by the server's user (it refuses a key anyone else can read)."""
    path.write_bytes(data)
    path.chmod(mode)
    if os.geteuid() == 0:
        shutil.chown(path, user="postgres", group="postgres")


def configure_tls(data_dir: Path, *, tls: bool = True) -> Path | None:
    """Write a fresh server certificate and key and the pg_hba.conf; return the CA file clients trust.

    The CA's certificate goes next to the data folder (``<data>.ca.pem``, public); its key
    is dropped here. ``tls=False``: plain logins only, no certificate (returns None).
    """
    if not tls:
        _write_server_file(data_dir / "pg_hba.conf", PG_HBA_PLAIN.encode(), 0o600)
        return None
    ca = make_ca()
    server = issue_server_cert(ca)
    _write_server_file(data_dir / "server.crt", server.cert_pem, 0o644)
    _write_server_file(data_dir / "server.key", server.key_pem, 0o600)
    _write_server_file(data_dir / "pg_hba.conf", PG_HBA_TLS.encode(), 0o600)
    ca_file = data_dir.parent / f"{data_dir.name}.ca.pem"
    ca_file.write_bytes(ca.cert_pem)
    ca_file.chmod(0o644)
    return ca_file


def _initdb(data_dir: Path, password_file: Path) -> None:
    """Create a cluster in ``data_dir`` whose superuser has a fresh password, kept in ``password_file``."""
    _prepare_dir(data_dir)
    password = secrets.token_urlsafe(18)
    with tempfile.NamedTemporaryFile("w", dir=data_dir.parent, delete=False) as pw:
        pw.write(password + "\n")
    if os.geteuid() == 0:
        shutil.chown(pw.name, user="postgres", group="postgres")
    try:
        _run(
            [
                find_pg_bin("initdb"),
                "-D",
                str(data_dir),
                "-U",
                SUPERUSER,
                "--auth=scram-sha-256",
                f"--pwfile={pw.name}",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ]
        )
    finally:
        os.unlink(pw.name)
    password_file.write_text(password)
    password_file.chmod(0o600)


def start_postgres(data_dir: Path, *, fast: bool = False, port: int | None = None, tls: bool = True) -> PostgresServer:
    """initdb (if needed) and start a server in ``data_dir``; return once it accepts connections.

    Parameters
    ----------
    data_dir
        Folder for the cluster; created if missing. Reused if it already holds one.
        Relocated if the ``postgres`` user cannot reach it (``server_data_dir``); the
        returned server's ``data_dir`` says where it is.
    fast
        Tests only: fsync, synchronous_commit and full_page_writes off.
    port
        Port on 127.0.0.1; a free one if None.
    tls
        TLS-only logins (the default; see the module docstring). False: plain logins
        only, for the benchmarks' TLS-off baseline.
    """
    pg_ctl = find_pg_bin("pg_ctl")
    data_dir = server_data_dir(data_dir)
    _prepare_dir(data_dir.parent)
    password_file = data_dir.parent / f"{data_dir.name}.password"
    if not (data_dir / "PG_VERSION").exists():
        _initdb(data_dir, password_file)
    password = password_file.read_text().strip()
    ca_file = configure_tls(data_dir, tls=tls)
    port = port or free_port()
    options = [
        f"-p {port}",
        "-c listen_addresses=127.0.0.1",
        "-c unix_socket_directories=''",
        "-c max_connections=100",
        "-c timezone=UTC",
        f"-c ssl={'on' if tls else 'off'}",
    ]
    if fast:
        options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
    server = PostgresServer(data_dir=data_dir, port=port, password=password, ca_file=ca_file)
    _run([pg_ctl, "start", "-D", str(data_dir), "-w", "-t", "60", "-l", str(server.log_file), "-o", " ".join(options)])
    return server
