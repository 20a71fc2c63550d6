"""The one deployment the infra tests share: an account on its own moto server,
prepared and deployed as docs/operations.md ("First deployment of an account") does
it, once per test session (a Terraform apply of ~150 resources takes minutes).

What the account holds before our Terraform runs is made here with boto3: a VPC
with two private subnets and their route table (the operator's), and the AWS SDK
for pandas layer with the public SSM parameter that names it (AWS's). Then the
documented steps: bootstrap the state bucket (terraform/bootstrap), deploy with the
state in that bucket and every option on (functions in the VPC with their security
group and endpoints, the RDS warehouse, an alarm subscriber). test_first_deploy.py
continues with the later steps; test_terraform_wiring.py reads back what was made.

moto keeps its resources per process: the infra tests run on one xdist worker
(one apply), and the test that destroys the deployment runs after every other infra
test (pytest_collection_modifyitems below).
"""

from __future__ import annotations

import io
import logging
import shutil
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from local.moto_server import REGION, MotoServer, start_moto
from local.paths import LOCAL_DIR
from local.terraform_local import apply_bootstrap, apply_local, variable_default

ENV = "wiring"
ACCOUNT = "123456789012"  # moto's default account
ALARM_EMAIL = "pipeline-alerts@example.com"
STATE_BUCKET = f"totes-tfstate-{ACCOUNT}"  # the name docs/operations.md suggests
HERE = Path(__file__).parent

# Without the offline provider mirror (/opt/tf-plugins) terraform init uses the registry.
TERRAFORM_MISSING = shutil.which("terraform") is None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "destroys_deployment: runs after every other test of tests/functional/infra")


@pytest.hookimpl(tryfirst=True)  # before xdist reads the xdist_group marks (--dist loadgroup)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Keep the infra tests on one worker (one apply), the destroying test behind the others."""
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.xdist_group("terraform-infra"))
    destroying = [item for item in items if item.get_closest_marker("destroys_deployment")]
    for item in destroying:
        items.remove(item)
    infra = [i for i, item in enumerate(items) if item.path.is_relative_to(HERE)]
    at = infra[-1] + 1 if infra else len(items)
    items[at:at] = destroying


@dataclass
class Account:
    """What exists before our Terraform: the operator's network and AWS's layer."""

    vpc_id: str
    vpc_cidr: str
    subnet_ids: list[str]
    route_table_id: str
    layer_parameter: str
    layer_arn: str


@dataclass
class Deployed:
    """The moto server, the account, Terraform's outputs and what they were right after the deploy."""

    moto: MotoServer
    account: Account
    outputs: dict[str, Any]
    workdir: Path
    state_bucket: str
    # Secret name -> whether it had a value, and SSM state parameter -> value, right after the deploy.
    secrets_had_value: dict[str, bool] = field(default_factory=dict)
    ssm_after_deploy: dict[str, str] = field(default_factory=dict)

    @property
    def env(self) -> str:
        return ENV

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            region_name=REGION,
            endpoint_url=self.moto.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


def _client(moto: MotoServer, service: str) -> Any:
    return boto3.client(
        service, region_name=REGION, endpoint_url=moto.endpoint, aws_access_key_id="t", aws_secret_access_key="t"
    )


def _network(moto: MotoServer) -> tuple[str, str, list[str], str]:
    """A VPC with two private subnets in two AZs sharing one explicitly associated route table."""
    ec2 = _client(moto, "ec2")
    cidr = "10.20.0.0/16"
    vpc_id = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.20.{i}.0/24", AvailabilityZone=f"{REGION}{zone}")["Subnet"][
            "SubnetId"
        ]
        for i, zone in ((1, "a"), (2, "b"))
    ]
    route_table = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
    for subnet in subnets:
        ec2.associate_route_table(RouteTableId=route_table, SubnetId=subnet)
    return vpc_id, cidr, subnets, route_table


def _publish_pandas_layer(moto: MotoServer, version: str) -> tuple[str, str]:
    """Stand in for AWS: a layer version, and the public SSM parameter naming it.

    The parameter's name is written here from the aws-sdk-pandas docs (install.rst,
    "AWS Lambda Layer"), independently of the Terraform that reads it. SSM refuses
    PutParameter under /aws/ (reserved for AWS), so the parameter goes straight into
    moto's in-process backend.
    """
    from moto.ssm.models import Parameter, ssm_backends

    content = io.BytesIO()
    with zipfile.ZipFile(content, "w") as layer_zip:
        layer_zip.writestr("python/aws_sdk_pandas_marker.py", "")
    layer_arn = _client(moto, "lambda").publish_layer_version(
        LayerName="AWSSDKPandas-Python312",
        Content={"ZipFile": content.getvalue()},
        CompatibleRuntimes=["python3.12"],
        CompatibleArchitectures=["x86_64"],
    )["LayerVersionArn"]
    name = f"/aws/service/aws-sdk-pandas/{version}/py3.12/x86_64/layer-arn"
    ssm_backends[ACCOUNT][REGION]._parameters[name].append(
        Parameter(
            account_id=ACCOUNT,
            name=name,
            value=layer_arn,
            parameter_type="String",
            description="AWS SDK for pandas layer ARN",
            allowed_pattern=None,
            keyid=None,
            last_modified_date=time.time(),
            version=1,
            data_type="text",
        )
    )
    return name, layer_arn


@pytest.fixture(scope="session")
def deployed() -> Iterator[Deployed]:
    if TERRAFORM_MISSING:
        pytest.skip("terraform is not installed")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    # Its own server and port; moto's backends are per process, so every assertion
    # looks at totes-wiring-* only.
    moto = start_moto()
    root = LOCAL_DIR / "test" / "terraform-infra" / moto.endpoint.rsplit(":", 1)[1]
    try:
        vpc_id, vpc_cidr, subnets, route_table = _network(moto)
        parameter, layer_arn = _publish_pandas_layer(moto, variable_default("aws_sdk_pandas_version"))
        account = Account(vpc_id, vpc_cidr, subnets, route_table, parameter, layer_arn)

        # docs/operations.md, first deployment: the state bucket, then the deploy.
        bootstrap = apply_bootstrap(moto.endpoint, state_bucket=STATE_BUCKET, workdir=root / "bootstrap")
        outputs = apply_local(
            moto.endpoint,
            env=ENV,
            workdir=root / "deploy",
            state_bucket=bootstrap["state_bucket_name"],
            extra_vars={
                "attach_aws_sdk_pandas_layer": True,
                "alarm_email_addresses": [ALARM_EMAIL],
                "vpc_subnet_ids": subnets,
                "database_cidr_blocks": ["203.0.113.10/32"],
                "create_vpc_endpoints": True,
                "create_warehouse": True,
                # A bigger /tmp for ingestion (its spool; docs/architecture.md, Limits): the variable reaches Lambda.
                "function_settings": {
                    "ingestion": {"memory_size": 512, "timeout": 300, "ephemeral_storage": 1024},
                    "transform": {"memory_size": 2048, "timeout": 600},
                    "load": {"memory_size": 1024, "timeout": 600},
                },
            },
        )
        deployment = Deployed(moto, account, outputs, root / "deploy", bootstrap["state_bucket_name"])
        secrets = deployment.client("secretsmanager")
        for name in (outputs["source_db_secret_name"], outputs["warehouse_db_secret_name"]):
            try:
                secrets.get_secret_value(SecretId=name)
                deployment.secrets_had_value[name] = True
            except secrets.exceptions.ResourceNotFoundException:
                deployment.secrets_had_value[name] = False
        ssm = deployment.client("ssm")
        for output in (
            "ssm_last_run_seq_parameter_name",
            "ssm_watermarks_parameter_name",
            "ssm_snapshot_cursors_parameter_name",
        ):
            name = outputs[output]
            deployment.ssm_after_deploy[name] = ssm.get_parameter(Name=name)["Parameter"]["Value"]
        yield deployment
    finally:
        moto.stop()
        shutil.rmtree(root, ignore_errors=True)
