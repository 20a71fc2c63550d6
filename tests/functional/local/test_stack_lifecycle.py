"""The local stack starts and stops cleanly, as root and as a normal user, and leaves nothing running."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

from local.paths import LOCAL_DIR, REPO_ROOT

pytestmark = [pytest.mark.integration, pytest.mark.slow]

_UP_AND_DOWN = """
import json, sys
from pathlib import Path
from local.stack import LocalStack
stack = LocalStack(Path(sys.argv[1]), fast=True)
details = stack.up()
con = stack.postgres.connect("totesys")
tables = con.run("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")[0][0]
con.close()
stack.down()
print(json.dumps({"pg_port": details.pg_port, "moto": details.moto_endpoint, "tables": tables}))
"""


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _postmaster_running(data_dir: Path) -> bool:
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    return any(str(data_dir) in line and "postgres" in line for line in out.splitlines())


def _system_python() -> str | None:
    """An interpreter of our minor version that another user may execute (the venv's
    may live under root's private home); the venv's packages are passed on PYTHONPATH."""
    candidate = f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"
    return candidate if os.access(candidate, os.X_OK) else None


def _run_stack_as(user: str | None, root: Path) -> dict:
    python = sys.executable
    paths = [str(REPO_ROOT / "src")]
    if user is not None:
        python = _system_python() or pytest.skip("no system Python of this version for another user")
        paths += [p for p in sys.path if p.endswith("site-packages")]
    cmd = [python, "-c", _UP_AND_DOWN, str(root)]
    if user is not None:
        cmd = ["runuser", "-u", user, "--", *cmd]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd="/", check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _check_stopped(result: dict, root: Path) -> None:
    assert result["tables"] == 12, "eleven source tables plus _prisma_migrations"
    assert not _port_open(result["pg_port"]), "PostgreSQL still listening after down()"
    assert not _port_open(int(result["moto"].rsplit(":", 1)[1])), "moto still listening after down()"
    assert not _postmaster_running(root / "pg")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_stack_up_down_as_root() -> None:
    root = LOCAL_DIR / "test" / f"root-{uuid.uuid4().hex[:6]}"
    try:
        _check_stopped(_run_stack_as(None, root), root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("runuser") is None, reason="needs root to switch user")
def test_stack_up_down_as_normal_user(tmp_path_factory: pytest.TempPathFactory) -> None:
    root = Path(f"/tmp/totes-user-stack-{uuid.uuid4().hex[:6]}")
    root.mkdir()
    shutil.chown(root, user="postgres", group="postgres")
    try:
        _check_stopped(_run_stack_as("postgres", root), root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_local_up_writes_details_and_down_stops_everything(tmp_path: Path) -> None:
    """`totes local up` leaves the stack running with its details file; `local down` stops it."""
    local_dir = LOCAL_DIR / "test" / f"cli-{uuid.uuid4().hex[:6]}"
    env = {**os.environ, "TOTES_LOCAL_DIR": str(local_dir)}
    totes = [sys.executable, "-m", "cli.main"]
    try:
        up = subprocess.run([*totes, "local", "up"], capture_output=True, text=True, env=env, check=False)
        assert up.returncode == 0, up.stdout + up.stderr
        details = json.loads((local_dir / "stack.json").read_text())
        port, moto_port = details["pg_port"], int(details["moto_endpoint"].rsplit(":", 1)[1])
        assert _port_open(port), "PostgreSQL must outlive `local up`"
        assert _port_open(moto_port), "moto must outlive `local up`"
        down = subprocess.run([*totes, "local", "down"], capture_output=True, text=True, env=env, check=False)
        assert down.returncode == 0, down.stdout + down.stderr
        assert not (local_dir / "stack.json").exists()
        assert not _port_open(port)
        assert not _port_open(moto_port)
    finally:
        subprocess.run([*totes, "local", "down"], capture_output=True, env=env, check=False)
        shutil.rmtree(local_dir, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs the server as another user")
def test_a_checkout_the_postgres_user_cannot_reach_still_runs_the_stack(tmp_path: Path) -> None:
    """A first run as root from a private folder (root's home is mode 700): the old code
    stopped in initdb with "Permission denied". The stack keeps its data under the system
    temp folder instead, keyed by the checkout, and `local down --wipe` removes it."""
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    checkout = private / "checkout"
    for part in ("src", "sql"):
        shutil.copytree(REPO_ROOT / part, checkout / part, ignore=shutil.ignore_patterns("__pycache__"))
    env = {k: v for k, v in os.environ.items() if k != "TOTES_LOCAL_DIR"}
    env["PYTHONPATH"] = str(checkout / "src")
    totes = [sys.executable, "-m", "cli.main"]

    def run(*args: str) -> str:
        proc = subprocess.run([*totes, *args], capture_output=True, text=True, env=env, cwd=checkout, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
        return proc.stdout

    try:
        run("local", "up")
        details = json.loads((checkout / ".local" / "stack.json").read_text())
        data_dir = Path(details["pg_data_dir"])
        assert data_dir.parent.parent == Path(tempfile.gettempdir())
        assert data_dir.parent.name.startswith("totes-pg-")
        run("migrate")
        run("seed", "--scale", "0.05")
        assert _port_open(details["pg_port"])
        run("local", "down", "--wipe")
        assert not data_dir.parent.exists(), "down --wipe leaves the relocated data behind"
        assert not _port_open(details["pg_port"])
    finally:
        subprocess.run([*totes, "local", "down", "--wipe"], capture_output=True, env=env, cwd=checkout, check=False)
