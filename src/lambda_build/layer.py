"""The AWS SDK for pandas layer the functions run with, as pinned in ``layer-requirements.txt``.

That file mirrors the layer package by package (the Python 3.12 runtime test installs
exactly it); its ``awswrangler==X.Y.Z`` line is also the layer's own version, which
Terraform's ``aws_sdk_pandas_version`` must equal (the layer of awswrangler X.Y.Z is
published under the SSM parameter ``/aws/service/aws-sdk-pandas/X.Y.Z/...``).
"""

from __future__ import annotations

import re
from pathlib import Path

from lambda_build.zips import REPO_ROOT, BuildError

LAYER_REQUIREMENTS = REPO_ROOT / "layer-requirements.txt"
_PIN = re.compile(r"^([A-Za-z0-9_.-]+)==(\S+)\s*(?:#.*)?$")
_RELEASE = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+$")


def layer_pins(path: Path = LAYER_REQUIREMENTS) -> dict[str, str]:
    """Package name -> pinned version, for every ``name==version`` line of the pin file."""
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _PIN.match(line.strip())
        if match:
            pins[match.group(1).lower()] = match.group(2)
    return pins


def aws_sdk_pandas_version(path: Path = LAYER_REQUIREMENTS) -> str:
    """The layer version the pin file mirrors: its ``awswrangler==X.Y.Z``."""
    version = layer_pins(path).get("awswrangler")
    if version is None or not _RELEASE.match(version):
        raise BuildError(f"{path.name} pins no awswrangler==X.Y.Z (the layer's version): {version!r}")
    return version
