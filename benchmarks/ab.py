"""Two source trees side by side: what the A/B benchmarks (``bench_load_ab``, ``bench_transform_ab``) share.

A variant is a ``src`` folder (e.g. a ``git worktree`` of the baseline commit's, and this
tree's). Every round runs each variant once, interleaved, in a fresh child process of the
benchmark's own module (``--child``), which imports the project from its variant's folder;
so nothing of the project is imported here.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess  # nosec B404
import sys
from collections.abc import Callable, Iterable
from typing import Any


def parser(doc: str | None, child_args: int) -> argparse.ArgumentParser:
    """``--rounds``, ``--before``, ``--after``; the hidden ``--child``: the variant's src and ``child_args`` values."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--before", help="the baseline's src folder")
    p.add_argument("--after", default="src", help="this tree's src folder")
    p.add_argument("--child", nargs=child_args + 1, help=argparse.SUPPRESS)
    return p


def variants(args: argparse.Namespace) -> dict[str, str]:
    """Name -> absolute ``src`` folder: ``before`` (when given), then ``after``."""
    after = {"after": os.path.abspath(args.after)}
    return {"before": os.path.abspath(args.before), **after} if args.before else after


def spawn(module: str, src: str, child_args: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run ``python -m module --child src *child_args`` and return the JSON document it prints last."""
    proc = subprocess.run(  # nosec B603 - this interpreter, a module of this package
        [sys.executable, "-m", module, "--child", src, *child_args],
        capture_output=True, text=True, check=False,
        env={**env, "POWERTOOLS_LOG_LEVEL": "WARNING"},
    )  # fmt: skip
    if proc.returncode:
        raise RuntimeError(f"{module} child ({src}) failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def interleave(
    rounds: int, variant_srcs: dict[str, str], measure: Callable[[str], dict[str, Any]]
) -> dict[str, list[dict[str, Any]]]:
    """``rounds`` x every variant in turn: ``measure(src)``'s documents by variant, each echoed to stderr."""
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in variant_srcs}
    for _ in range(rounds):
        for name, src in variant_srcs.items():
            doc = measure(src)
            print(json.dumps({"variant": name, **doc}), file=sys.stderr, flush=True)
            runs[name].append(doc)
    return runs


def medians(runs: dict[str, list[dict[str, Any]]], fields: Iterable[str]) -> dict[str, dict[str, float]]:
    """Variant -> field -> the median over its runs, rounded to 2 places."""
    return {name: {f: round(statistics.median(r[f] for r in docs), 2) for f in fields} for name, docs in runs.items()}
