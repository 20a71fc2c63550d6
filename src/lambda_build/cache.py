"""Where the build keeps what only pinned inputs decide, for every checkout of one user.

The Lambda zips' dependencies (``lambda_build.zips.install_dependencies``) and the
Python 3.12 venv of the layer's packages (tests/functional/runtime) are each keyed by a
hash of their pin lines and target, like pip's own cache: a new clone, or another
worktree, reuses them instead of installing the same wheels again (a minute of CPU
each). ``TOTES_CACHE_DIR`` moves the folder; deleting it only costs the next install.
"""

from __future__ import annotations

import os
from pathlib import Path


def user_cache_dir() -> Path:
    """``$TOTES_CACHE_DIR``, else ``$XDG_CACHE_HOME/totes-pipeline``, else ``~/.cache/totes-pipeline``."""
    explicit = os.environ.get("TOTES_CACHE_DIR")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "totes-pipeline"
