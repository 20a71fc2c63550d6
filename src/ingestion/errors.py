"""Exceptions of the ingestion stage, one per failure a caller or an alarm cares about.

Each derives from ``IngestionError`` and from a retriable or a fatal base
(``common.errors``). Every one of them fails the invocation (the handler lets it
escape): a run that cannot complete must be visible as a Lambda error, never as a
successful return value. A malformed manifest is ``lake.errors.ManifestError`` (fatal).
"""

from __future__ import annotations

from common.errors import FatalError, PipelineError, RetriableError


class IngestionError(PipelineError):
    """Base class of every ingestion failure."""


class SourceConnectionError(IngestionError, RetriableError):
    """The totesys database cannot be reached or refuses our credentials."""


class SourceQueryError(IngestionError, RetriableError):
    """A query against totesys failed part way; nothing of this run was committed."""


class SchemaMismatchError(IngestionError, FatalError):
    """A live source table lacks a column of the contract in ``common.source_tables``."""


class WatermarkError(IngestionError, FatalError):
    """A watermark in SSM or in a manifest is not a valid ``YYYY-MM-DDTHH:MM:SS.mmm`` timestamp."""


class StateError(IngestionError, RetriableError):
    """Ingestion state (the SSM parameters, a recent-keys object) cannot be read or written."""


class CorruptStateError(StateError, FatalError):
    """A state object was read but is not what it must be (a recent-keys object that does not parse)."""


class MassDeletionHeldError(IngestionError, FatalError):
    """A comparison found more rows deleted than the guard allows: nothing was applied (an operator reviews)."""
