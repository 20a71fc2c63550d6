"""The layer the functions run with is the one the Python 3.12 runtime test installs.

Terraform reads the AWS SDK for pandas layer's ARN from the public SSM parameter of
``aws_sdk_pandas_version`` (terraform/lambda.tf); ``layer-requirements.txt`` pins the
same layer's packages, with ``awswrangler==<the layer's version>``. If one moves
without the other, the runtime test proves a layer that is not the deployed one.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from local.terraform_local import TerraformError, variable_default

LAYER_REQUIREMENTS = Path(__file__).resolve().parents[3] / "layer-requirements.txt"


def _pinned_layer_version(text: str) -> str:
    match = re.search(r"^awswrangler==([0-9]+\.[0-9]+\.[0-9]+)\s*(?:#.*)?$", text, flags=re.MULTILINE)
    if match is None:
        raise AssertionError(f"{LAYER_REQUIREMENTS.name} pins no awswrangler==X.Y.Z (the layer's version)")
    return match.group(1)


def test_terraform_deploys_the_layer_version_the_runtime_test_installs() -> None:
    if not LAYER_REQUIREMENTS.exists():
        pytest.skip(f"{LAYER_REQUIREMENTS.name} is not in this checkout yet (issue 12, part A)")
    assert variable_default("aws_sdk_pandas_version") == _pinned_layer_version(LAYER_REQUIREMENTS.read_text())


def test_the_pin_is_read_from_its_awswrangler_line() -> None:
    text = "# AWS SDK for pandas 3.16.1 layer, python3.12\npandas==2.2.3\nawswrangler==3.16.1  # the layer\n"
    assert _pinned_layer_version(text) == "3.16.1"
    with pytest.raises(AssertionError, match="pins no awswrangler"):
        _pinned_layer_version("pandas==2.2.3\nawswrangler>=3\n")


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
