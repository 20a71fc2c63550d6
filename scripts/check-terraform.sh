#!/usr/bin/env bash
# terraform fmt -check, init (no backend) and validate for the root module and
# the bootstrap module. Works offline: when the provider mirror /opt/tf-plugins
# exists (TF_PLUGIN_MIRROR overrides), Terraform installs providers from it only;
# otherwise from the registry, as a plain `terraform init` would.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/tf-cli-config.sh
source scripts/tf-cli-config.sh

if ! command -v terraform >/dev/null 2>&1; then
  echo "terraform not found on PATH: install Terraform >= 1.6 (https://developer.hashicorp.com/terraform/install)" >&2
  exit 1
fi

terraform fmt -check -recursive -diff terraform
for dir in terraform terraform/bootstrap; do
  echo "== terraform validate: $dir"
  terraform -chdir="$dir" init -backend=false -input=false -no-color >/dev/null
  terraform -chdir="$dir" validate -no-color
done
