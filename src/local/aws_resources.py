"""AWS-side resources of one pipeline environment in moto, for the local stack and tests.

``provision`` creates the buckets, SSM parameters and secrets that
``common.config.PipelineResources`` names directly in moto, for functional tests that
do not need the whole Terraform apply; ``put_db_secrets`` sets the database secrets'
values, as an operator does in AWS.
"""

from __future__ import annotations

from typing import Any

from common.config import PipelineResources
from common.db import DbCredentials
from lake import ssm as ssm_names


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
