"""Finding the pipeline a command talks to: the local stack if one is up, else an AWS account.

Here, where both are visible: ``local`` knows the stack (``.local/stack.json``, the
local Terraform outputs), ``ops.target.Target`` knows how to reach a pipeline.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from common.config import PipelineResources
from local.paths import LOCAL_DIR, STACK_FILE
from local.stack import StackDetails
from ops.target import Target, TargetError

LOCAL_OUTPUTS = LOCAL_DIR / "terraform" / "local" / "outputs.json"


def local_target(details: StackDetails, outputs: dict[str, Any]) -> Target:
    """The pipeline Terraform deployed to the local stack's moto."""
    return Target(
        outputs,
        PipelineResources.from_terraform_outputs(outputs),
        aws_env=dict(details.aws_env),
        source=details.source_credentials,
        warehouse=details.warehouse_credentials,
        # Under .local, wherever the server's data is (it may live under the system temp dir).
        log_dir=LOCAL_DIR / "logs",
    )


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
        return local_target(details, json.loads(LOCAL_OUTPUTS.read_text()))
    if outputs_file is None:
        raise TargetError(
            "no local stack is up (`totes local up`) and no --outputs file (`terraform output -json`) was given"
        )
    outputs = json.loads(outputs_file.read_text())
    return Target(outputs, PipelineResources.from_terraform_outputs(outputs))
