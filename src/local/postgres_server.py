"""A throwaway PostgreSQL server from the system's binaries, for tests and local runs.

PostgreSQL refuses to run as root, so when we are root every server command runs
through ``runuser -u postgres``. The server listens on 127.0.0.1 only, on a free
port, with its data under a git-ignored folder; ``fast=True`` (tests only) turns off
fsync, which is unsafe for data anyone wants to keep and several times faster.
Subprocesses run fixed binaries with list arguments, never through a shell.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess  # nosec B404
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pg8000.native

SUPERUSER = "postgres"


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

    def connect(self, database: str = "postgres") -> pg8000.native.Connection:
        return pg8000.native.Connection(
            user=self.user, password=self.password, host=self.host, port=self.port, database=database
        )

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


def _prepare_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(path, user="postgres", group="postgres")


def start_postgres(data_dir: Path, *, fast: bool = False, port: int | None = None) -> PostgresServer:
    """initdb (if needed) and start a server in ``data_dir``; return once it accepts connections.

    Parameters
    ----------
    data_dir
        Folder for the cluster; created if missing. Reused if it already holds one.
    fast
        Tests only: fsync, synchronous_commit and full_page_writes off.
    port
        Port on 127.0.0.1; a free one if None.
    """
    initdb, pg_ctl = find_pg_bin("initdb"), find_pg_bin("pg_ctl")
    data_dir = data_dir.resolve()
    _prepare_dir(data_dir.parent)
    password_file = data_dir.parent / f"{data_dir.name}.password"
    if not (data_dir / "PG_VERSION").exists():
        _prepare_dir(data_dir)
        password = secrets.token_urlsafe(18)
        with tempfile.NamedTemporaryFile("w", dir=data_dir.parent, delete=False) as pw:
            pw.write(password + "\n")
        if os.geteuid() == 0:
            shutil.chown(pw.name, user="postgres", group="postgres")
        try:
            _run(
                [
                    initdb,
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
    password = password_file.read_text().strip()
    port = port or free_port()
    options = [
        f"-p {port}",
        "-c listen_addresses=127.0.0.1",
        "-c unix_socket_directories=''",
        "-c max_connections=100",
        "-c timezone=UTC",
    ]
    if fast:
        options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
    server = PostgresServer(data_dir=data_dir, port=port, password=password)
    _run([pg_ctl, "start", "-D", str(data_dir), "-w", "-t", "60", "-l", str(server.log_file), "-o", " ".join(options)])
    return server
