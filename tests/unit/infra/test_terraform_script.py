"""scripts/terraform.sh, the entry point of make bootstrap / plan / deploy / migrate.

Run on a copy of its folders with a stand-in ``terraform`` on PATH that records its
arguments (the real one needs an AWS account): which module each action runs in,
with which backend and variables, and what it leaves behind.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
STUB = """#!/bin/sh
echo "$*" >> "$TF_STUB_LOG"
case "$*" in *" output -json"*) echo '{"ingest_bucket_name": {"value": "b"}}' ;; esac
"""


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "scripts").mkdir(parents=True)
    for name in ("terraform.sh", "tf-cli-config.sh"):
        shutil.copy2(REPO_ROOT / "scripts" / name, root / "scripts" / name)
    shutil.copytree(REPO_ROOT / "terraform" / "environments", root / "terraform" / "environments")
    stub = tmp_path / "bin" / "terraform"
    stub.parent.mkdir()
    stub.write_text(STUB)
    stub.chmod(stub.stat().st_mode | stat.S_IXUSR)
    return root


def _run(checkout: Path, *args: str, **env: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    log = checkout.parent / "terraform-calls.log"
    log.unlink(missing_ok=True)
    environ = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TF_", "AWS_"))},
        "PATH": f"{checkout.parent / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "TF_PLUGIN_MIRROR": str(checkout.parent / "no-mirror"),
        "TF_STUB_LOG": str(log),
        **env,
    }
    result = subprocess.run(
        ["bash", str(checkout / "scripts" / "terraform.sh"), *args],
        env=environ,
        capture_output=True,
        text=True,
        check=False,
    )
    calls = log.read_text().splitlines() if log.exists() else []
    return result, calls


def test_bootstrap_applies_only_the_state_bucket_module(checkout: Path) -> None:
    result, calls = _run(checkout, "bootstrap", "apply", TF_STATE_BUCKET="totes-tfstate-123")
    assert result.returncode == 0, result.stderr
    assert calls == [
        "-chdir=terraform/bootstrap init -input=false",
        "-chdir=terraform/bootstrap apply -input=false -var state_bucket_name=totes-tfstate-123",
    ]


def test_bootstrap_needs_the_bucket_name(checkout: Path) -> None:
    result, calls = _run(checkout, "bootstrap", "apply")
    assert result.returncode != 0
    assert "TF_STATE_BUCKET" in result.stderr
    assert calls == []


def test_outputs_writes_what_the_ops_commands_read(checkout: Path) -> None:
    result, calls = _run(checkout, "dev", "outputs", TF_STATE_BUCKET="totes-tfstate-123")
    assert result.returncode == 0, result.stderr
    assert calls == [
        "-chdir=terraform init -input=false -reconfigure -backend-config=environments/dev.s3.tfbackend"
        " -backend-config=bucket=totes-tfstate-123",
        "-chdir=terraform output -json",
    ]
    assert (checkout / "build" / "outputs-dev.json").read_text().strip() == '{"ingest_bucket_name": {"value": "b"}}'


def test_apply_refuses_to_run_without_the_built_zips(checkout: Path) -> None:
    result, calls = _run(checkout, "dev", "apply")
    assert result.returncode == 1
    assert "run 'make build' first" in result.stderr
    assert calls == []


def test_an_unknown_environment_or_action_is_refused(checkout: Path) -> None:
    assert _run(checkout, "staging", "plan")[0].returncode == 2
    assert _run(checkout, "dev", "import")[0].returncode == 2
    assert _run(checkout, "bootstrap", "outputs")[0].returncode == 2


def test_make_deploy_builds_with_the_rds_ca_applies_then_migrates_through_the_outputs() -> None:
    """The order matters: the zips carry the RDS CA, the apply ships them, then the load function migrates."""
    result = subprocess.run(
        ["make", "--no-print-directory", "-n", "deploy", "ENV=dev"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    steps = [
        line.strip()
        for line in result.stdout.splitlines()
        if any(word in line for word in ("build_lambdas.py", "terraform.sh", "totes migrate"))
    ]
    assert steps == [
        ".venv/bin/python scripts/build_lambdas.py --require-rds-ca",
        "scripts/terraform.sh dev apply",
        "scripts/terraform.sh dev outputs",
        ".venv/bin/totes migrate --outputs build/outputs-dev.json",
    ]
