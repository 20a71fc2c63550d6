"""Apply the real Terraform root module (``terraform/``) to a local moto server.

The local stack and the wiring test use the infrastructure that Terraform created
(bucket names, notifications, IAM, parameters, secrets), not a hand-made copy, so
they check the same ``.tf`` files that ``make deploy`` applies to AWS.

How: the module's ``.tf`` files are copied into ``<workdir>/module`` next to one
generated override file (``zz_local_override.tf``, Terraform's override-file
mechanism) that

* points every AWS service the module uses at the moto endpoint, with fake
  credentials and the provider's account/credential/metadata checks switched off;
* replaces the S3 backend with a local one, state in ``<workdir>/terraform.tfstate``
  (``.local/terraform/<env>/`` by default, git-ignored), or, as in AWS, with the S3
  backend on a state bucket of the moto server (``state_bucket``; the bucket comes
  from ``apply_bootstrap``, which applies ``terraform/bootstrap`` the same way).

The variables come from ``terraform/environments/local.tfvars`` (no pandas layer:
moto does not know the managed layer) plus the caller's ``extra_vars``. The Lambda
zips are built first (``lambda_build.zips``, into ``<workdir>/build``), as
``make deploy`` does.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess  # nosec B404 - runs terraform with list arguments, no shell
from pathlib import Path
from typing import Any

from common.config import PipelineResources
from lambda_build.zips import ZIP_CACHE, build
from local.aws_resources import put_db_secrets
from local.moto_server import FAKE_CREDENTIALS, REGION, moto_client
from local.paths import LOCAL_DIR, REPO_ROOT
from local.stack import StackDetails

TERRAFORM_DIR = REPO_ROOT / "terraform"
BOOTSTRAP_DIR = TERRAFORM_DIR / "bootstrap"
LOCAL_TFVARS = TERRAFORM_DIR / "environments" / "local.tfvars"
PLUGIN_MIRROR = Path(os.environ.get("TF_PLUGIN_MIRROR", "/opt/tf-plugins"))

# Every service the root module calls (provider endpoint names).
AWS_SERVICES = (
    "athena", "cloudwatch", "ec2", "glue", "iam", "kms", "lambda", "logs", "rds", "s3", "scheduler",
    "secretsmanager", "sns", "sqs", "ssm", "sts",
)  # fmt: skip

# Written by apply_local(state_bucket=...): later applies and destroys use the same backend.
STATE_BACKEND_FILE = "state-backend.json"

# The bucket outputs destroy_local empties before terraform destroy.
BUCKET_OUTPUTS = ("ingest_bucket_name", "processed_bucket_name", "artifacts_bucket_name", "athena_results_bucket_name")


class TerraformError(RuntimeError):
    """A terraform command failed; the message ends with its output."""


def terraform_binary() -> str:
    """Path of the terraform executable; TerraformError if there is none."""
    found = shutil.which(os.environ.get("TERRAFORM", "terraform"))
    if not found:
        raise TerraformError("terraform not found on PATH (install Terraform >= 1.6)")
    return found


def default_workdir(env: str) -> Path:
    return LOCAL_DIR / "terraform" / env


def variable_default(name: str, variables_file: Path = TERRAFORM_DIR / "variables.tf") -> str:
    """The string default of Terraform variable ``name`` (e.g. ``aws_sdk_pandas_version``).

    Raises
    ------
    TerraformError
        No such variable, or its default is not a plain string.
    """
    text = variables_file.read_text()
    block = re.search(rf'^variable "{re.escape(name)}" {{\n(.*?)^}}', text, flags=re.MULTILINE | re.DOTALL)
    default = block and re.search(r'^  default\s*=\s*"([^"]*)"$', block.group(1), flags=re.MULTILINE)
    if not default:
        raise TerraformError(f"{variables_file}: variable {name!r} has no string default")
    return default.group(1)


def _moto_settings(indent: str, *, request_account_id: bool = False) -> str:
    """Region, fake credentials and no AWS-side checks: shared by the provider and the S3 backend.

    The provider asks moto's STS for the account id (``request_account_id``): without it the
    ARNs it builds itself have no account, and moto finds no Athena workgroup by such an ARN.
    """
    settings = {
        "region": f'"{REGION}"',
        "access_key": f'"{FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"]}"',
        "secret_key": f'"{FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]}"',
        "skip_credentials_validation": "true",
        "skip_requesting_account_id": "false" if request_account_id else "true",
        "skip_metadata_api_check": "true",
        "skip_region_validation": "true",
    }
    return "\n".join(f"{indent}{name:<27} = {value}" for name, value in settings.items())


def _backend_block(moto_endpoint: str, workdir: Path) -> str:
    """The backend: the state bucket named in ``<workdir>/state-backend.json``, else a local file."""
    marker = workdir / STATE_BACKEND_FILE
    if not marker.exists():
        return f'  backend "local" {{\n    path = "{(workdir / "terraform.tfstate").as_posix()}"\n  }}'
    state = json.loads(marker.read_text())
    # What environments/<env>.s3.tfbackend says, plus moto's endpoint and fake credentials.
    return f"""  backend "s3" {{
    bucket                      = "{state["bucket"]}"
    key                         = "{state["key"]}"
    encrypt                     = true
    use_lockfile                = true
{_moto_settings("    ")}
    use_path_style              = true
    endpoints = {{
      s3  = "{moto_endpoint}"
      sts = "{moto_endpoint}"
    }}
  }}"""


def _override_tf(moto_endpoint: str, workdir: Path) -> str:
    endpoints = "\n".join(f'    {service} = "{moto_endpoint}"' for service in AWS_SERVICES)
    return f"""# Generated by src/local/terraform_local.py: the module against a local moto server.
terraform {{
{_backend_block(moto_endpoint, workdir)}
}}

provider "aws" {{
{_moto_settings("  ", request_account_id=True)}
  s3_use_path_style           = true

  endpoints {{
{endpoints}
  }}
}}
"""


def _cli_config(workdir: Path) -> Path | None:
    """A CLI config installing providers from the offline mirror, if there is one."""
    if not PLUGIN_MIRROR.is_dir():
        return None
    path = workdir / "terraform.rc"
    path.write_text(
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path = "{PLUGIN_MIRROR.as_posix()}"\n'
        '    include = ["registry.terraform.io/*/*"]\n  }\n}\n'
    )
    return path


def _terraform_env(workdir: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        # Never let real AWS settings or credentials reach the local apply.
        if not k.startswith(("AWS_", "TF_VAR_")) and k != "TF_CLI_CONFIG_FILE"
    }
    env.update(FAKE_CREDENTIALS)
    env.update({"AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION, "TF_IN_AUTOMATION": "1", "TF_INPUT": "0"})
    cli_config = _cli_config(workdir)
    if cli_config is not None:
        env["TF_CLI_CONFIG_FILE"] = str(cli_config)
    return env


def _run(args: list[str], *, cwd: Path, env: dict[str, str]) -> str:
    result = subprocess.run(  # noqa: S603  # nosec B603 - fixed terraform argument list
        [terraform_binary(), *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr)[-6000:]
        raise TerraformError(f"terraform {args[0]} failed (exit {result.returncode}):\n{output}")
    return result.stdout


def _prepare(moto_endpoint: str, workdir: Path, source: Path = TERRAFORM_DIR) -> tuple[Path, dict[str, str]]:
    """Copy the module ``source`` into ``workdir/module`` with the override, and terraform init it."""
    module_dir = workdir / "module"
    module_dir.mkdir(parents=True, exist_ok=True)
    # Fresh .tf files (and the .json files they read, e.g. lake_catalog.json) every time (a
    # file removed from terraform/ must go here too); .terraform/ stays, so init is quick.
    for pattern in ("*.tf", "*.json"):
        for stale in module_dir.glob(pattern):
            stale.unlink()
        for tf_file in source.glob(pattern):
            shutil.copy2(tf_file, module_dir / tf_file.name)
    lock_file = source / ".terraform.lock.hcl"
    if lock_file.exists():
        shutil.copy2(lock_file, module_dir / lock_file.name)
    (module_dir / "zz_local_override.tf").write_text(_override_tf(moto_endpoint, workdir.resolve()))
    env = _terraform_env(workdir)
    _run(["init", "-input=false", "-no-color", "-reconfigure"], cwd=module_dir, env=env)
    return module_dir, env


def _var_args(workdir: Path, env_name: str) -> list[str]:
    args = [
        f"-var-file={LOCAL_TFVARS}",
        f"-var=environment={env_name}",
        f"-var=lambda_build_dir={workdir / 'build'}",
    ]
    extra = workdir / "extra.tfvars.json"
    if extra.exists():  # written by apply_local; destroy must see the same values
        args.append(f"-var-file={extra}")
    return args


def build_lambda_zips(out_dir: Path) -> dict[str, Path]:
    """Build ``<out_dir>/<stage>.zip`` for every stage (what the Terraform deploys).

    Each workdir gets its own zips: the repository's build/ may be rebuilt by
    someone else between terraform's plan and apply (a "inconsistent final plan").
    Unchanged zips are copied from ``build/zip-cache`` (every apply of a test run
    builds the same three).
    """
    return build(out_dir=out_dir, reuse=ZIP_CACHE)


def pull_state(moto_endpoint: str, workdir: Path) -> str:
    """The raw Terraform state of ``workdir``'s deployment (``terraform state pull``), wherever it is kept."""
    module_dir, tf_env = _prepare(moto_endpoint, workdir.resolve())
    return _run(["state", "pull"], cwd=module_dir, env=tf_env)


def read_outputs(module_dir: Path, env: dict[str, str]) -> dict[str, Any]:
    raw = json.loads(_run(["output", "-json", "-no-color"], cwd=module_dir, env=env))
    return {name: item["value"] for name, item in raw.items()}


def apply_bootstrap(moto_endpoint: str, *, state_bucket: str, workdir: Path) -> dict[str, Any]:
    """Apply ``terraform/bootstrap`` (the state bucket ``state_bucket``) to the moto server.

    The first step of a new account (docs/operations.md); its own state stays local in
    ``workdir``, as in AWS. The TLS-only bucket policy is off: moto speaks plain HTTP.
    """
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    module_dir, tf_env = _prepare(moto_endpoint, workdir, source=BOOTSTRAP_DIR)
    variables = [
        f"-var=state_bucket_name={state_bucket}",
        f"-var=aws_region={REGION}",
        "-var=deny_insecure_transport=false",
    ]
    _run(["apply", "-auto-approve", "-input=false", "-no-color", *variables], cwd=module_dir, env=tf_env)
    return read_outputs(module_dir, tf_env)


def apply_local(
    moto_endpoint: str,
    *,
    env: str = "local",
    workdir: Path | None = None,
    extra_vars: dict[str, Any] | None = None,
    state_bucket: str | None = None,
) -> dict[str, Any]:
    """Build the zips and apply ``terraform/`` to the moto server at ``moto_endpoint``.

    Parameters
    ----------
    moto_endpoint
        ``http://host:port`` of a running moto server.
    env
        The Terraform ``environment`` (names are ``totes-<env>-...``).
    workdir
        Module copy and local state; ``.local/terraform/<env>`` by default. Applying
        again with the same workdir updates the same resources.
    extra_vars
        More Terraform variables (they win over environments/local.tfvars); kept in
        the workdir so a later apply or destroy sees the same values.
    state_bucket
        Keep the state in this bucket of the moto server (key ``totes/<env>/terraform.tfstate``,
        S3-native locking), as ``environments/<env>.s3.tfbackend`` does in AWS; remembered
        in the workdir like ``extra_vars``. None: a local state file in the workdir.

    Returns
    -------
    dict
        Terraform's outputs as plain values, ``{name: value}``.

    Raises
    ------
    TerraformError
        terraform is missing or a command failed.
    """
    workdir = (workdir or default_workdir(env)).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    extra = workdir / "extra.tfvars.json"
    if extra_vars is not None:
        extra.write_text(json.dumps(extra_vars, indent=2, sort_keys=True))
    if state_bucket is not None:
        state = {"bucket": state_bucket, "key": f"totes/{env}/terraform.tfstate"}
        (workdir / STATE_BACKEND_FILE).write_text(json.dumps(state, indent=2))
    build_lambda_zips(workdir / "build")
    module_dir, tf_env = _prepare(moto_endpoint, workdir)
    _run(["apply", "-auto-approve", "-input=false", "-no-color", *_var_args(workdir, env)], cwd=module_dir, env=tf_env)
    outputs = read_outputs(module_dir, tf_env)
    (workdir / "outputs.json").write_text(json.dumps(outputs, indent=2, sort_keys=True))
    return outputs


def empty_bucket(s3: Any, bucket: str) -> int:
    """Delete every object version and delete marker of ``bucket``; return how many.

    moto's bucket delete can hang on a versioned bucket that still holds versions
    or delete markers, so destroy_local empties the buckets first.
    """
    deleted = 0
    paginator = s3.get_paginator("list_object_versions")
    try:
        pages = list(paginator.paginate(Bucket=bucket))
    except s3.exceptions.NoSuchBucket:
        return 0
    for page in pages:
        batch = [
            {"Key": item["Key"], "VersionId": item["VersionId"]}
            for kind in ("Versions", "DeleteMarkers")
            for item in page.get(kind, [])
        ]
        for start in range(0, len(batch), 1000):  # DeleteObjects takes at most 1000 keys
            chunk = batch[start : start + 1000]
            s3.delete_objects(Bucket=bucket, Delete={"Objects": chunk, "Quiet": True})
            deleted += len(chunk)
    return deleted


def destroy_local(
    moto_endpoint: str,
    *,
    env: str = "local",
    workdir: Path | None = None,
) -> None:
    """Destroy what ``apply_local`` created on the moto server at ``moto_endpoint``.

    Empties every bucket of the environment (all versions and delete markers) with
    boto3 first, then runs terraform destroy with the same variables as the apply.
    """
    workdir = (workdir or default_workdir(env)).resolve()
    if not any((workdir / name).exists() for name in ("terraform.tfstate", STATE_BACKEND_FILE)):
        return  # nothing was applied here
    module_dir, tf_env = _prepare(moto_endpoint, workdir)
    outputs = read_outputs(module_dir, tf_env)
    s3 = moto_client("s3", moto_endpoint)
    for name in BUCKET_OUTPUTS:
        if outputs.get(name):
            empty_bucket(s3, outputs[name])
    if not all((workdir / "build" / f"{stage}.zip").exists() for stage in ("ingestion", "transform", "load")):
        build_lambda_zips(workdir / "build")  # the configuration hashes the zips, also to destroy
    destroy_args = ["destroy", "-auto-approve", "-input=false", "-no-color", *_var_args(workdir, env)]
    _run(destroy_args, cwd=module_dir, env=tf_env)
    (workdir / "outputs.json").unlink(missing_ok=True)


def deploy_to_stack(details: StackDetails, *, workdir: Path | None = None, fresh: bool = False) -> dict[str, Any]:
    """Apply the Terraform to the stack's moto and set both database secrets; return the outputs.

    Parameters
    ----------
    details
        The running stack.
    workdir
        Terraform working directory (module copy and state); ``apply_local``'s default.
    fresh
        Forget an old state file first: a new moto server holds none of its resources.
    """
    workdir = workdir or default_workdir("local")
    if fresh:
        for state in workdir.glob("terraform.tfstate*"):
            state.unlink()
    outputs = apply_local(details.moto_endpoint, env="local", workdir=workdir)
    put_db_secrets(
        moto_client("secretsmanager", details.moto_endpoint),
        PipelineResources.from_terraform_outputs(outputs),
        details.source_credentials,
        details.warehouse_credentials,
    )
    return outputs
