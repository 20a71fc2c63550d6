"""The layer the functions run with is the one the Python 3.12 runtime test installs.

Terraform reads the AWS SDK for pandas layer's ARN from the public SSM parameter of
``aws_sdk_pandas_version`` (terraform/lambda.tf); ``layer-requirements.txt`` pins the
same layer's packages, with ``awswrangler==<the layer's version>``. If one moves
without the other, the runtime test proves a layer that is not the deployed one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lambda_build.layer import aws_sdk_pandas_version, layer_pins
from lambda_build.zips import BuildError
from local.terraform_local import TerraformError, variable_default


def test_terraform_deploys_the_layer_version_the_runtime_test_installs() -> None:
    assert variable_default("aws_sdk_pandas_version") == aws_sdk_pandas_version()


def test_the_pin_is_read_from_its_awswrangler_line(tmp_path: Path) -> None:
    pins = tmp_path / "layer-requirements.txt"
    pins.write_text("# AWS SDK for pandas 3.16.1 layer, python3.12\npandas==2.2.3\nawswrangler==3.16.1  # the layer\n")
    assert aws_sdk_pandas_version(pins) == "3.16.1"
    assert layer_pins(pins) == {"pandas": "2.2.3", "awswrangler": "3.16.1"}
    pins.write_text("pandas==2.2.3\nawswrangler>=3\n")
    with pytest.raises(BuildError, match="pins no awswrangler"):
        aws_sdk_pandas_version(pins)


def test_variable_default_reads_a_string_default_and_refuses_anything_else(tmp_path: Path) -> None:
    variables = tmp_path / "variables.tf"
    variables.write_text(
        'variable "version" {\n  description = "x"\n  type        = string\n  default     = "3.16.1"\n}\n\n'
        'variable "port" {\n  type    = number\n  default = 5432\n}\n'
    )
    assert variable_default("version", variables) == "3.16.1"
    with pytest.raises(TerraformError, match="'port' has no string default"):
        variable_default("port", variables)
    with pytest.raises(TerraformError, match="'missing' has no string default"):
        variable_default("missing", variables)
