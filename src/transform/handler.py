"""Lambda entry point of the transform stage (docs/architecture.md: Handlers).

Triggered by the S3 event of an ingestion commit record (or ``{}``, a sweep). The
event only wakes the function: ``run_transform`` works out the pending runs itself.
Errors are not caught: a failed invocation is retried by Lambda and alarms.
"""

from __future__ import annotations

from typing import Any

import boto3

from common.config import TransformConfig
from common.observability import failures_logged, get_logger, get_metrics
from common.s3_store import LakeStore
from transform.run import SERVICE, run_transform

logger = get_logger(SERVICE)
metrics = get_metrics(SERVICE)


@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Transform every pending ingestion run; return a summary."""
    woken_by = [r.get("s3", {}).get("object", {}).get("key") for r in (event or {}).get("Records", [])]
    logger.info("transform invoked", extra={"woken_by": woken_by})
    with failures_logged(logger, metrics):
        config = TransformConfig.from_env()
        s3 = boto3.client("s3")
        result = run_transform(
            LakeStore(config.ingest_bucket, s3), LakeStore(config.processed_bucket, s3), logger=logger, metrics=metrics
        )
    return result.summary()
