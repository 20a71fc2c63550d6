"""Exceptions of the ingestion stage, one per failure a caller or an alarm cares about.

Every one of them fails the invocation (the handler lets it escape): a run that cannot
complete must be visible as a Lambda error, never as a successful return value.
"""

from __future__ import annotations


class IngestionError(RuntimeError):
    """Base class of every ingestion failure."""


class SourceConnectionError(IngestionError):
    """The totesys database cannot be reached or refuses our credentials."""


class SourceQueryError(IngestionError):
    """A query against totesys failed part way; nothing of this run was committed."""


class SchemaMismatchError(IngestionError):
    """A live source table lacks a column of the contract in ``common.source_tables``."""


class WatermarkError(IngestionError):
    """A watermark in SSM or in a manifest is not a valid ``YYYY-MM-DDTHH:MM:SS.mmm`` timestamp."""


class StateError(IngestionError):
    """Ingestion state (SSM parameters, a manifest, a recent-keys object) cannot be read or written."""
