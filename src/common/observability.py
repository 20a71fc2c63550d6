"""Structured JSON logging and CloudWatch metrics (EMF) for every stage.

AWS Lambda Powertools does both: ``Logger`` writes one JSON object per line with
the keys we append (run_seq, table, rows, …); ``Metrics`` writes Embedded Metric
Format, which CloudWatch turns into metrics without an API call. The namespace and
service come from POWERTOOLS_* environment variables, with defaults for local runs.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from common.errors import failure_fields

NAMESPACE_DEFAULT = "TotesPipeline"

__all__ = ["FAILURE_METRIC", "MetricUnit", "failures_logged", "get_logger", "get_metrics"]


class _CurrentStdout:
    """Whatever ``sys.stdout`` is when a line is written, not when the logger was made.

    Powertools binds its stream once, at import. In Lambda stdout never changes; the
    local runner (ops.runner.stage_output_to) and pytest swap ``sys.stdout`` for a while,
    and a handler imported during one such swap would otherwise keep writing to it.
    """

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


def get_logger(service: str) -> Logger:
    return Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", service), stream=_CurrentStdout())


FAILURE_METRIC = "InvocationsFailed"


@contextmanager
def failures_logged(logger: Logger, metrics: Metrics) -> Iterator[None]:
    """Log and count the error that fails an invocation, with its kind (retriable, fatal), then let it escape.

    WARNING, not ERROR: the function's Errors alarm already counts the failed
    invocation, and an ERROR line would page a second time for it. The count means no
    failed invocation publishes empty metrics, whatever failed before its first metric
    (an unreachable database, an unknown event action, bad configuration). The kind is
    metadata, not a dimension: a dimension would apply to every metric of the
    invocation and move them out of the series the alarms watch.
    """
    try:
        yield
    except Exception as exc:
        fields = failure_fields(exc)
        logger.warning("invocation failed", extra=fields)
        metrics.add_metric(name=FAILURE_METRIC, unit=MetricUnit.Count, value=1)
        metrics.add_metadata(key="failure_kind", value=fields["failure_kind"])
        raise


def get_metrics(service: str) -> Metrics:
    return Metrics(
        namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", NAMESPACE_DEFAULT),
        service=os.environ.get("POWERTOOLS_SERVICE_NAME", service),
    )
