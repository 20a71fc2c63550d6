"""Structured JSON logging and CloudWatch metrics (EMF) for every stage.

AWS Lambda Powertools does both: ``Logger`` writes one JSON object per line with
the keys we append (run_seq, table, rows, …); ``Metrics`` writes Embedded Metric
Format, which CloudWatch turns into metrics without an API call. The namespace and
service come from POWERTOOLS_* environment variables, with defaults for local runs.
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

NAMESPACE_DEFAULT = "TotesPipeline"

__all__ = ["MetricUnit", "get_logger", "get_metrics"]


def get_logger(service: str) -> Logger:
    return Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", service))


def get_metrics(service: str) -> Metrics:
    return Metrics(
        namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", NAMESPACE_DEFAULT),
        service=os.environ.get("POWERTOOLS_SERVICE_NAME", service),
    )
