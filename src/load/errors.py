"""The load stage's exceptions, one per failure a caller handles differently.

All derive from ``LoadError``. Each is raised ``from`` the underlying exception so
the cause stays in the traceback; none is swallowed. Every one of them fails the
invocation (the Lambda error metric and the SNS alarm), and the run that raised it
is rolled back, so a retry starts from the same ledger state.
"""

from __future__ import annotations


class LoadError(RuntimeError):
    """Base class of every load-stage failure."""


class WarehouseLoadError(LoadError):
    """The warehouse failed or went away during a run; the run's transaction was rolled back (retriable)."""


class CommitRecordError(LoadError):
    """A processed commit record, or an object it names, is missing or malformed (fatal until fixed upstream)."""


class SchemaMismatchError(LoadError):
    """A Parquet file's columns or types do not match the warehouse contract (fatal until fixed upstream)."""


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a pg8000 database error (its ``C`` field), None for anything else."""
    detail = exc.args[0] if exc.args else None
    return detail.get("C") if isinstance(detail, dict) else None
