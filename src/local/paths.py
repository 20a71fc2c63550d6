"""Where the repository's files are, found from this file (works from an editable install)."""

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SQL_DIR = REPO_ROOT / "sql"
# git-ignored: server data, connection details, reports. TOTES_LOCAL_DIR moves it
# (tests use that to run `totes local up` without touching a developer's stack).
LOCAL_DIR = Path(os.environ.get("TOTES_LOCAL_DIR") or REPO_ROOT / ".local")
STACK_FILE = LOCAL_DIR / "stack.json"
