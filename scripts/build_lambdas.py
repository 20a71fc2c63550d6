#!/usr/bin/env python3
"""Build the three Lambda zips reproducibly into build/ (``make build``); the code is ``lambda_build.zips``.

Usage: ``python scripts/build_lambdas.py [--out-dir build] [--stage ingestion ...]``
"""

from __future__ import annotations

import sys

from lambda_build.zips import main

if __name__ == "__main__":
    sys.exit(main())
