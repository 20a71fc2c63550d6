"""`make bench`: run every stage benchmark and keep a machine-readable record.

Each ``benchmarks/bench_<area>.py`` exposes ``run(scale: str, repeats: int) -> dict``.
Results of one invocation go to ``benchmarks/results/<UTC time>-<commit>.json`` so
regressions show across commits; the human summary lives in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import subprocess  # nosec B404
import sys
from datetime import UTC, datetime
from pathlib import Path

AREAS = ("generate", "ingestion", "transform", "load")
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def _commit() -> str:
    proc = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)  # nosec
    return proc.stdout.strip() or "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", default="1m", help="small | 100k | 1m (sales orders)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", default=",".join(AREAS), help="comma list of areas")
    args = parser.parse_args(argv)
    record: dict[str, object] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": _commit(),
        "machine": {
            "cpus": __import__("os").cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "scale": args.scale,
        "repeats": args.repeats,
        "results": {},
    }
    results: dict[str, object] = record["results"]  # type: ignore[assignment]
    for area in [a.strip() for a in args.only.split(",") if a.strip()]:
        module = importlib.import_module(f"benchmarks.bench_{area}")
        print(f"== {area} (scale {args.scale}, {args.repeats} repeats)", flush=True)
        results[area] = module.run(args.scale, args.repeats)
        print(json.dumps(results[area], indent=2, default=str), flush=True)
    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{record['commit']}.json"
    out.write_text(json.dumps(record, indent=2, default=str))
    print(f"results written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
