"""The shape of src/: imports run one way, nothing is imported by file path, functions stay small.

Layers (docs/architecture.md, "Packages"): ``cli`` -> ``ops`` and ``local`` -> the
stages -> ``lake`` -> ``common``. A package may import its own modules and those of
the layers below it, never a layer above or a sibling stage. A new package must be
given its place here before it can land.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

_STAGES = {"ingestion", "transform", "load"}
# What each package may import from src/ (besides itself).
ALLOWED: dict[str, set[str]] = {
    "common": set(),
    "lake": {"common"},
    "ingestion": {"common", "lake"},
    "transform": {"common", "lake"},
    "load": {"common", "lake"},
    "lambda_build": set(),
    "local": {"common", "lake", "lambda_build", *_STAGES},
    "ops": {"common", "lake", *_STAGES},
    "dashboard": {"common", "lake"},
    "cli": {"common", "lake", "lambda_build", "local", "ops", "dashboard", *_STAGES},
}
# Functions longer than this are split (what a reader holds in mind at once).
MAX_FUNCTION_LINES = 59


def _packages() -> list[Path]:
    return sorted(p for p in SRC.iterdir() if (p / "__init__.py").is_file())


def _modules() -> list[Path]:
    return sorted(p for package in _packages() for p in package.rglob("*.py"))


def _imported(tree: ast.AST) -> set[str]:
    """Top-level package names of every import in a module (relative imports are its own package)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_every_package_has_a_place_in_the_layers() -> None:
    assert {p.name for p in _packages()} <= set(ALLOWED), "add the new package to ALLOWED (and docs/architecture.md)"


@pytest.mark.parametrize("module", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_imports_run_one_way(module: Path) -> None:
    package = module.relative_to(SRC).parts[0]
    ours = {p.name for p in _packages()}
    imported = _imported(ast.parse(module.read_text(), str(module))) & ours
    forbidden = imported - ALLOWED[package] - {package}
    assert not forbidden, f"{module.relative_to(SRC)} ({package}) imports {sorted(forbidden)}"


@pytest.mark.parametrize("module", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_nothing_is_imported_by_file_path(module: Path) -> None:
    tree = ast.parse(module.read_text(), str(module))
    by_path = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr in {"spec_from_file_location", "SourceFileLoader"}
    ]
    assert not by_path, f"{module.relative_to(SRC)}:{by_path} loads a module from a file path; import a package"


def test_no_function_is_longer_than_the_limit() -> None:
    too_long = []
    for module in _modules():
        for node in ast.walk(ast.parse(module.read_text(), str(module))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_long.append(f"{module.relative_to(SRC)}:{node.lineno} {node.name} ({length} lines)")
    assert not too_long, "split these functions:\n" + "\n".join(too_long)


def test_the_layer_check_catches_a_forbidden_import() -> None:
    # The check itself can fail: a stage importing ops would be reported.
    tree = ast.parse("from ops.status import collect_status\nimport local.stack\nfrom .x import y\n")
    assert _imported(tree) == {"ops", "local"}
