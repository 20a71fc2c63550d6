"""The load stage's exceptions, each derived from a retriable or a fatal base.

All failures derive from ``LoadError``. Each is raised ``from`` the underlying
exception so the cause stays in the traceback; none is swallowed. Every one of them
fails the invocation (the Lambda error metric and the SNS alarm), and the run that
raised it is rolled back, so a retry starts from the same ledger state. A malformed
commit record, or one whose objects disagree with it, is
``lake.errors.CommitRecordError`` (fatal).

A database error is one of two kinds (``is_data_exception``): the *data* was refused
(SQLSTATE class 22 "data exception" or 23 "integrity constraint violation": a value
out of range, a character the encoding lacks, a CHECK someone added), which no retry
can fix, so load quarantines the rows and commits the rest of the run
(``load.refused``): neither retriable nor fatal, it is handled in place; or the
*infrastructure* failed (connection lost, read-only database, lock or statement
timeout, out of resources, ...), which a retry can fix, so it fails the invocation
as ``WarehouseLoadError`` (retriable).
"""

from __future__ import annotations

from common.errors import FatalError, PipelineError, RetriableError


class LoadError(PipelineError):
    """Base class of every load-stage failure."""


class WarehouseLoadError(LoadError, RetriableError):
    """The warehouse failed or went away during a run; the run's transaction was rolled back."""


class ParquetSchemaError(LoadError, FatalError):
    """A Parquet file's columns or types do not match the warehouse contract (until fixed upstream)."""


class WarehouseSchemaError(LoadError, FatalError):
    """The warehouse's schema is older than this code: nothing was loaded (fatal until migrated)."""


class SummaryFoldError(LoadError, RetriableError):
    """The analytics summaries' fold failed and was rolled back; the facts it would fold stay loaded."""


class MigrationError(LoadError, FatalError):
    """A migration failed, or an applied migration file was edited afterwards."""


class MigrationBusyError(LoadError, RetriableError):
    """A load held the warehouse longer than a migration waits for it; try again."""


# -- internal: raised and handled inside the stage, never out of a run -----------------------


class NullInBatchError(ValueError):
    """A batch holds a NULL; binary COPY encoding covers NULL-free batches only."""


class ParquetStreamError(Exception):
    """The COPY was ended on purpose because the client refused a batch; ``cause`` is why."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a pg8000 database error (its ``C`` field), None for anything else."""
    detail = exc.args[0] if exc.args else None
    return detail.get("C") if isinstance(detail, dict) else None


# SQLSTATE classes a value or row causes (PostgreSQL Appendix A): 22 data exception,
# 23 integrity constraint violation. Everything else is about the server, the
# connection or the schema, and is for a retry or a human, not for quarantine.
DATA_SQLSTATE_CLASSES = frozenset({"22", "23"})


def is_data_exception(exc: BaseException) -> bool:
    """Whether the database refused ``exc``'s statement because of the data it was given."""
    state = sqlstate(exc)
    return state is not None and state[:2] in DATA_SQLSTATE_CLASSES


def refusal_reason(exc: BaseException) -> str:
    """``<SQLSTATE>: <message> (<detail>)`` of a database error, for a quarantine record."""
    detail = exc.args[0] if exc.args else None
    if not isinstance(detail, dict):
        return str(exc)
    text = f"{detail.get('C')}: {detail.get('M')}"
    return f"{text} ({detail['D']})" if detail.get("D") else text
