"""Which pipeline the ops commands talk to: the local stack's moto, or a real AWS account.

A ``Target`` is a deployed pipeline: its Terraform outputs, the resource names, and
how to reach it. For the local stack (``cli.targets`` builds it from
``.local/stack.json``) ``aws_env`` points boto3 at moto with fake credentials and the
database credentials are known; for AWS ``aws_env`` is empty (boto3's usual profile
and environment) and the credentials are read from the two secrets.
"""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pg8000.native

from common.config import PipelineResources
from common.db import DbCredentials, connect, get_db_credentials
from ops.runner import PipelineRunner, overlay_environ

STAGES = ("ingestion", "transform", "load")


class TargetError(RuntimeError):
    """No pipeline to talk to: no local stack is up and no outputs file was given."""


@dataclass
class Target:
    """A deployed pipeline: Terraform outputs, resource names, and how to reach it."""

    outputs: dict[str, Any]
    resources: PipelineResources
    aws_env: dict[str, str] = field(default_factory=dict)  # local: moto endpoint, region, fake credentials
    source: DbCredentials | None = None  # None: read the source secret
    warehouse: DbCredentials | None = None  # None: read the warehouse secret
    log_dir: Path | None = None  # where `totes run` writes the stages' logs (local only)

    @property
    def is_local(self) -> bool:
        return bool(self.aws_env)

    @property
    def endpoint(self) -> str | None:
        return self.aws_env.get("AWS_ENDPOINT_URL")

    @property
    def region(self) -> str | None:
        """The stack's region locally; in AWS the outputs' ``aws_region``, else the one boto3 resolves."""
        if self.is_local:
            return self.aws_env.get("AWS_REGION")
        return self.output("aws_region") or boto3.session.Session().region_name

    def output(self, name: str) -> Any:
        value = self.outputs.get(name)
        return value["value"] if isinstance(value, dict) and "value" in value else value

    def function_names(self) -> dict[str, str]:
        """Deployed function name -> stage name."""
        return {str(self.output(f"{stage}_function_name")): stage for stage in STAGES}

    def client(self, service: str) -> Any:
        if not self.is_local:
            return boto3.client(service, region_name=self.region)
        # moto's fake credentials, explicitly: no real AWS credentials are ever used locally.
        return boto3.client(
            service,
            region_name=self.region,
            endpoint_url=self.endpoint,
            aws_access_key_id=self.aws_env.get("AWS_ACCESS_KEY_ID"),
            aws_secret_access_key=self.aws_env.get("AWS_SECRET_ACCESS_KEY"),
            aws_session_token=self.aws_env.get("AWS_SESSION_TOKEN"),
        )

    def source_credentials(self) -> DbCredentials:
        return self.source or get_db_credentials(self.resources.source_db_secret, self.client("secretsmanager"))

    def warehouse_credentials(self) -> DbCredentials:
        return self.warehouse or get_db_credentials(self.resources.warehouse_db_secret, self.client("secretsmanager"))

    def connect_source(self, application_name: str = "totes-ops") -> pg8000.native.Connection:
        return connect(self.source_credentials(), application_name)

    def connect_warehouse(self, application_name: str = "totes-ops") -> pg8000.native.Connection:
        return connect(self.warehouse_credentials(), application_name)

    def apply_environment(self) -> None:
        """Point handlers run in this process at the target (moto and the resource names)."""
        os.environ.update(self.aws_env)
        os.environ.update(self.resources.handler_env())

    def handler_environment(self) -> contextlib.AbstractContextManager[None]:
        """``apply_environment`` for the duration of a ``with`` block, then restore."""
        return overlay_environ({**self.aws_env, **self.resources.handler_env()})

    def runner(self, log_sink: io.TextIOBase | None = None) -> PipelineRunner:
        """A runner playing the schedule and S3 notifications against the deployed handlers (local only)."""
        return PipelineRunner(
            s3=self.client("s3"),
            lambda_client=self.client("lambda"),
            ingestion_function=str(self.output("ingestion_function_name")),
            buckets=[self.resources.ingest_bucket, self.resources.processed_bucket],
            region=self.region or "eu-west-2",
            sqs=self.client("sqs"),
            failure_queue_url=self.output("failure_queue_url"),
            log_sink=log_sink,
            load_function=str(self.output("load_function_name")),
        )
