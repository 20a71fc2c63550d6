"""The Lambda runtime, reproduced: python3.12 with only the layer's packages, the zips unpacked read-only.

``layer_python`` is a python3.12 venv holding exactly ``layer-requirements.txt`` (pip
``--no-deps``), cached under ``<user cache>/runtime/`` (``lambda_build.cache``: shared by
every checkout) by the hash of that file and the interpreter's version, so only the
first run on a machine installs it. ``LambdaRuntime`` unpacks the three zips built by
the project's build code and invokes a handler in a fresh python3.12 process per
invocation (``lambda_bootstrap.py``), with the function's code directory read-only and
only a temporary directory writable: as root, through a read-only bind mount in a
private mount namespace (``unshare -m``); otherwise through file permissions; in both
cases also through an audit hook in the bootstrap.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from lambda_build import zips
from lambda_build.cache import user_cache_dir
from lambda_build.layer import LAYER_REQUIREMENTS
from local.paths import REPO_ROOT

RUNTIME_CACHE = user_cache_dir() / "runtime"
BOOTSTRAP = Path(__file__).with_name("lambda_bootstrap.py")
HANDLERS = {
    "ingestion": "ingestion.handler.lambda_handler",
    "transform": "transform.handler.lambda_handler",
    "load": "load.handler.lambda_handler",
}
GET_PYTHON_312 = (
    "no Python 3.12 found (the Lambda runtime's version): install one, e.g. `pyenv install 3.12` "
    "(this machine: PYENV_VERSION=3.12 python3.12), `uv python install 3.12`, or your OS's python3.12 package"
)


def find_python312() -> str | None:
    """An interpreter of Python 3.12: ``python3.12`` on the PATH (pyenv's shim honours PYENV_VERSION=3.12)."""
    exe = shutil.which("python3.12")
    if exe is None:
        return None
    probe = subprocess.run(
        [exe, "-c", "import sys; print(sys.executable); print(*sys.version_info[:2])"],
        capture_output=True, text=True, check=False, env={**os.environ, "PYENV_VERSION": "3.12"},
    )  # fmt: skip
    lines = probe.stdout.split("\n")
    if probe.returncode != 0 or len(lines) < 2 or lines[1].split() != ["3", "12"]:
        return None
    return lines[0].strip()


def _layer_env_key(python: str) -> str:
    version = subprocess.run([python, "-VV"], capture_output=True, text=True, check=True).stdout.strip()
    return hashlib.sha256(LAYER_REQUIREMENTS.read_bytes() + version.encode()).hexdigest()[:16]


def ensure_layer_env(python: str, cache: Path = RUNTIME_CACHE) -> Path:
    """A venv of ``python`` holding exactly the layer's packages; built once per pin file and interpreter.

    Built in a temporary folder and renamed when complete, so an interrupted or concurrent
    build is never taken for a finished one (the venv only runs as ``bin/python``, which a
    rename does not break).
    """
    target = cache / f"py312-{_layer_env_key(python)}"
    if (target / "bin" / "python").exists():
        return target / "bin" / "python"
    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{target.name}.", dir=cache))
    try:
        subprocess.run([python, "-m", "venv", "--clear", str(staging)], check=True, capture_output=True)
        install = subprocess.run(
            [str(staging / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "--no-deps", "--only-binary=:all:", "-r", str(LAYER_REQUIREMENTS)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if install.returncode != 0:
            raise RuntimeError(f"cannot install layer-requirements.txt into a python3.12 venv:\n{install.stderr}")
        try:
            staging.rename(target)
        except OSError:
            if not (target / "bin" / "python").exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target / "bin" / "python"


@pytest.fixture(scope="session")
def layer_python() -> Path:
    python = find_python312()
    if python is None:
        pytest.skip(GET_PYTHON_312)
    return ensure_layer_env(python)


def _can_bind_read_only() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True, check=False)
    return probe.returncode == 0


# Each argument after the marker is bound onto itself read-only, then the command runs.
_READ_ONLY_SH = (
    'while [ "$1" != -- ]; do mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" || exit 97; shift; done; '
    'shift; exec "$@"'
)


def _read_only(path: Path) -> None:
    for dirpath, _dirnames, filenames in os.walk(path):
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o444)
        os.chmod(dirpath, 0o555)


def _writable_again(path: Path) -> None:
    for dirpath, _dirnames, _filenames in os.walk(path):
        os.chmod(dirpath, 0o755)


@dataclass
class LambdaRuntime:
    """Invokes the handlers from their unpacked zips with the layer's python3.12, one process per call."""

    python: Path
    code_dirs: dict[str, Path]
    work: Path
    env: dict[str, str] = field(default_factory=dict)
    bind_read_only: bool = False
    results: list[dict[str, Any]] = field(default_factory=list)

    def invoke(
        self, stage: str, event: dict[str, Any], function_env: dict[str, str], handler: str | None = None
    ) -> Any:
        """Run ``stage``'s handler (or ``handler``) with ``event``; return its value or fail the test with its error."""
        call = self.work / f"{stage}-{uuid.uuid4().hex[:8]}"
        tmp = call / "tmp"  # Lambda's /tmp: the only writable place
        tmp.mkdir(parents=True)
        event_file, result_file = call / "event.json", tmp / "result.json"
        event_file.write_text(json.dumps(event))
        env = {
            "PATH": "/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "HOME": str(tmp),
            "TMPDIR": str(tmp),
            "PYTHONDONTWRITEBYTECODE": "1",
            "LAMBDA_TASK_ROOT": str(self.code_dirs[stage]),
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
            "AWS_LAMBDA_FUNCTION_NAME": f"totes-runtime-{stage}",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
            "POWERTOOLS_SERVICE_NAME": stage,
            **self.env,
            **function_env,
        }
        spec = handler or HANDLERS[stage]
        cmd = [str(self.python), "-I", "-c", BOOTSTRAP.read_text(), str(self.code_dirs[stage]), spec,
               str(event_file), str(result_file), str(tmp)]  # fmt: skip
        if self.bind_read_only:
            read_only = [str(self.code_dirs[stage]), str(self.python.parents[1]), str(REPO_ROOT)]
            cmd = ["unshare", "-m", "--", "sh", "-c", _READ_ONLY_SH, "sh", *read_only, "--", *cmd]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, timeout=900)
        if not result_file.exists():
            pytest.fail(f"{stage} runtime died (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        result = json.loads(result_file.read_text())
        result["stage"], result["stdout"] = stage, proc.stdout
        self.results.append(result)
        if not result["ok"]:
            pytest.fail(f"{stage} handler failed on python3.12: {result['error']}\n{result['traceback']}")
        return result["value"]


def unpack(zips: dict[str, Path], root: Path) -> dict[str, Path]:
    """Each zip into its own read-only directory, as Lambda unpacks a function to /var/task."""
    dirs = {}
    for stage, archive in zips.items():
        target = root / stage
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(target)
        _read_only(target)
        dirs[stage] = target
    return dirs


@pytest.fixture
def lambda_runtime(layer_python: Path, lambda_zips: dict[str, Path], tmp_path: Path) -> Iterator[LambdaRuntime]:
    code = tmp_path / "task"
    runtime = LambdaRuntime(
        layer_python, unpack(lambda_zips, code), tmp_path / "calls", bind_read_only=_can_bind_read_only()
    )
    try:
        yield runtime
    finally:
        _writable_again(code)  # so pytest can clean tmp_path up


@pytest.fixture(scope="session")
def lambda_zips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The three zips as `make build` makes them (the RDS CA bundle left out: the local CA is in the secrets)."""
    return zips.build(out_dir=tmp_path_factory.mktemp("zips"), reuse=zips.ZIP_CACHE)
