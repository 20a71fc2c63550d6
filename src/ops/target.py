"""Which pipeline the ops commands talk to: the local stack, or a real AWS account.

Local: ``.local/stack.json`` (``totes local up`` / ``run-local --keep-stack``) gives the
moto endpoint and database credentials; the Terraform outputs come from the local
apply (``.local/terraform/local/outputs.json``). AWS: the outputs come from a file
(``terraform output -json > outputs.json``), boto3 uses the usual profile and
environment variables, and database credentials are read from the two secrets.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pg8000.native

from common.db import DbCredentials, connect, get_db_credentials
from local.aws_resources import PipelineResources
from local.paths import LOCAL_DIR, STACK_FILE
from local.stack import StackDetails

LOCAL_OUTPUTS = LOCAL_DIR / "terraform" / "local" / "outputs.json"


class TargetError(RuntimeError):
    """No pipeline to talk to: no local stack is up and no outputs file was given."""


@dataclass
class Target:
    """A deployed pipeline: Terraform outputs, resource names, and how to reach it."""

    outputs: dict[str, Any]
    resources: PipelineResources
    details: StackDetails | None = None

    @property
    def is_local(self) -> bool:
        return self.details is not None

    @property
    def endpoint(self) -> str | None:
        return self.details.moto_endpoint if self.details else None

    def output(self, name: str) -> Any:
        value = self.outputs.get(name)
        return value["value"] if isinstance(value, dict) and "value" in value else value

    def client(self, service: str) -> Any:
        if self.details is not None:
            return boto3.client(service, region_name=self.details.aws_env.get("AWS_REGION"), endpoint_url=self.endpoint)
        return boto3.client(service)

    def source_credentials(self) -> DbCredentials:
        if self.details is not None:
            return self.details.source_credentials
        return get_db_credentials(self.resources.source_db_secret, self.client("secretsmanager"))

    def warehouse_credentials(self) -> DbCredentials:
        if self.details is not None:
            return self.details.warehouse_credentials
        return get_db_credentials(self.resources.warehouse_db_secret, self.client("secretsmanager"))

    def connect_source(self) -> pg8000.native.Connection:
        return connect(self.source_credentials(), "totes-ops")

    def connect_warehouse(self) -> pg8000.native.Connection:
        return connect(self.warehouse_credentials(), "totes-ops")

    def apply_environment(self) -> None:
        """Point handlers run in this process at the target (local only: moto + names)."""
        if self.details is not None:
            os.environ.update(self.details.aws_env)
        os.environ.update(self.resources.handler_env())


def resolve_target(outputs_file: Path | None = None) -> Target:
    """The local stack if one is up (and no outputs file is given), else the account of ``outputs_file``.

    Raises
    ------
    TargetError
        Neither a local stack nor an outputs file is available.
    """
    if outputs_file is None and STACK_FILE.exists():
        details = StackDetails.read()
        if not LOCAL_OUTPUTS.exists():
            raise TargetError(f"the local stack is up but the Terraform was not applied ({LOCAL_OUTPUTS} missing)")
        outputs = json.loads(LOCAL_OUTPUTS.read_text())
        return Target(outputs, PipelineResources.from_terraform_outputs(outputs), details)
    if outputs_file is None:
        raise TargetError(
            "no local stack is up (`totes local up`) and no --outputs file (`terraform output -json`) was given"
        )
    outputs = json.loads(outputs_file.read_text())
    return Target(outputs, PipelineResources.from_terraform_outputs(outputs))
