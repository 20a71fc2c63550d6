"""Exceptions of the transform stage, one per failure a caller may need to tell apart.

Bad *rows* are never exceptions: they go to quarantine and the run proceeds. These
are the failures that make a run impossible to complete correctly, so they escape
the handler and fail the invocation (Lambda retries it and the error alarm fires).
"""

from __future__ import annotations


class TransformError(RuntimeError):
    """Base class of every transform failure."""


class ManifestError(TransformError):
    """An ingestion commit record is unreadable or breaks the docs/architecture.md contract."""


class IngestObjectMissingError(TransformError):
    """A data object named by an ingestion commit record does not exist in the ingest bucket."""


class SnapshotError(TransformError):
    """A snapshot named by the previous transform commit record is missing or unreadable."""


class CommitRecordError(TransformError):
    """The previous transform commit record is unreadable or breaks the contract."""


class OutputWriteError(TransformError):
    """Writing a Parquet, snapshot or quarantine object to the processed bucket failed."""
