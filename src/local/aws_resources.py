"""AWS-side resources of one pipeline environment, by name, for the local stack.

``PipelineResources`` names what the handlers need (buckets, SSM prefix, secrets)
and gives the environment variables the handlers read (docs/architecture.md). In a
real or Terraform-on-moto deployment the names come from Terraform's outputs
(``from_terraform_outputs``); ``provision`` creates the same resources directly in
moto for functional tests that do not need the whole Terraform apply.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common.db import DbCredentials
from lake import ssm as ssm_names


@dataclass(frozen=True)
class PipelineResources:
    ingest_bucket: str
    processed_bucket: str
    ssm_prefix: str
    source_db_secret: str
    warehouse_db_secret: str

    @classmethod
    def for_prefix(cls, prefix: str) -> PipelineResources:
        return cls(
            ingest_bucket=f"{prefix}-ingest",
            processed_bucket=f"{prefix}-processed",
            ssm_prefix=f"/{prefix}",
            source_db_secret=f"{prefix}/totesys-db",
            warehouse_db_secret=f"{prefix}/warehouse-db",
        )

    @classmethod
    def from_terraform_outputs(cls, outputs: dict[str, Any]) -> PipelineResources:
        def value(name: str) -> str:
            out = outputs[name]
            return str(out["value"] if isinstance(out, dict) else out)

        return cls(
            ingest_bucket=value("ingest_bucket_name"),
            processed_bucket=value("processed_bucket_name"),
            ssm_prefix=value("ssm_prefix"),
            source_db_secret=value("source_db_secret_name"),
            warehouse_db_secret=value("warehouse_db_secret_name"),
        )

    def handler_env(self) -> dict[str, str]:
        """The environment variables the Lambda handlers read (docs/architecture.md)."""
        return {
            "INGEST_BUCKET": self.ingest_bucket,
            "PROCESSED_BUCKET": self.processed_bucket,
            "SSM_PREFIX": self.ssm_prefix,
            "SOURCE_DB_SECRET": self.source_db_secret,
            "WAREHOUSE_DB_SECRET": self.warehouse_db_secret,
        }


def put_db_secrets(
    secretsmanager: Any, resources: PipelineResources, source: DbCredentials, warehouse: DbCredentials
) -> None:
    """Set both database secrets' values (create them if they do not exist yet).

    In AWS this is done out of band (docs/operations.md), never by Terraform.
    """
    for name, creds in ((resources.source_db_secret, source), (resources.warehouse_db_secret, warehouse)):
        try:
            secretsmanager.put_secret_value(SecretId=name, SecretString=creds.to_secret_string())
        except secretsmanager.exceptions.ResourceNotFoundException:
            secretsmanager.create_secret(Name=name, SecretString=creds.to_secret_string())


def provision(
    *,
    s3: Any,
    ssm: Any,
    secretsmanager: Any,
    resources: PipelineResources,
    source: DbCredentials,
    warehouse: DbCredentials,
    region: str = "eu-west-2",
) -> None:
    """Create the buckets (versioned), the SSM state parameters and the secrets in moto."""
    for bucket in (resources.ingest_bucket, resources.processed_bucket):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    # Same initial values as terraform/ssm.tf creates (and never resets).
    for leaf, value in ssm_names.INITIAL_VALUES.items():
        ssm.put_parameter(Name=ssm_names.parameter_name(resources.ssm_prefix, leaf), Value=value, Type="String")
    put_db_secrets(secretsmanager, resources, source, warehouse)
