"""The two kinds of failure every stage's exceptions derive from: retriable and fatal.

Each stage's ``errors`` module (and ``lake.errors``) derives every exception from one
of these, so the handler's failure log line, the local runner and an operator can
tell from the type alone whether trying again can help (dlt's terminal/transient,
the Singer SDK's Fatal/Retriable). Both kinds still fail the invocation: Lambda
retries an asynchronous invocation whatever the error, and the alarm fires.
"""

from __future__ import annotations


class PipelineError(RuntimeError):
    """Base class of every failure the stages raise on purpose."""


class RetriableError(PipelineError):
    """A retry may succeed: a service was unavailable, throttled, or went away mid-run."""


class FatalError(PipelineError):
    """A retry cannot succeed until something is fixed: a broken contract, bad state, a code or config error."""


class UnknownActionError(FatalError):
    """A handler's event names an action its code does not have (a typo must never run the default)."""


def is_retriable(exc: BaseException) -> bool | None:
    """True for a retriable error, False for a fatal one, None for an error we did not classify.

    Fatal wins: an error that is both (a corrupt object found while reading state) is
    one no retry can read.
    """
    if isinstance(exc, FatalError):
        return False
    if isinstance(exc, RetriableError):
        return True
    return None


def failure_fields(exc: BaseException) -> dict[str, object]:
    """The fields a handler logs about the error that fails its invocation."""
    retriable = is_retriable(exc)
    kind = "unclassified" if retriable is None else ("retriable" if retriable else "fatal")
    return {"error_type": type(exc).__name__, "error": str(exc), "failure_kind": kind}
