"""Exceptions of the transform stage, each derived from a retriable or a fatal base.

Bad *rows* are never exceptions: they go to quarantine and the run proceeds. The
failures here make a run impossible to complete correctly, so they escape the
handler and fail the invocation (Lambda retries it and the error alarm fires);
nothing of the run is committed and later runs wait. A broken manifest or commit
record is ``lake.errors.ManifestError`` / ``CommitRecordError`` (fatal).
"""

from __future__ import annotations

from common.errors import FatalError, PipelineError


class TransformError(PipelineError):
    """Base class of every transform failure."""


class IngestObjectMissingError(TransformError, FatalError):
    """A data object named by an ingestion manifest does not exist in the ingest bucket."""


class SnapshotError(TransformError, FatalError):
    """A snapshot named by the previous transform commit record is missing or unreadable."""


class ObjectRejectedError(Exception):
    """Internal, never escapes a run: the object's bytes are not what ingestion committed; it was quarantined whole."""
