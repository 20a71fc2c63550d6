"""Where the repository's files are, found from this file (works from an editable install)."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SQL_DIR = REPO_ROOT / "sql"
LOCAL_DIR = REPO_ROOT / ".local"  # git-ignored: server data, connection details, reports
STACK_FILE = LOCAL_DIR / "stack.json"
