#!/usr/bin/env bash
# Terraform for one environment against AWS (make plan / deploy / destroy).
#
#   scripts/terraform.sh <env> plan|apply|destroy [extra terraform args]
#   scripts/terraform.sh <env> outputs             (terraform output -json > build/outputs-<env>.json)
#   scripts/terraform.sh bootstrap plan|apply      (the state bucket; once per account)
#
# <env> picks terraform/environments/<env>.tfvars and <env>.s3.tfbackend.
# TF_STATE_BUCKET, when set, overrides the backend config's bucket (CI sets it).
# AUTO_APPROVE=1 skips apply's confirmation prompt (CI only; destroy always asks
# through `make destroy`). The Lambda zips must be built first (make build).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/tf-cli-config.sh
source scripts/tf-cli-config.sh

usage() { echo "usage: $0 <env>|bootstrap plan|apply|destroy|outputs [terraform args]" >&2; exit 2; }
[ $# -ge 2 ] || usage
env="$1" action="$2"
shift 2
case "$action" in plan | apply | destroy | outputs) ;; *) usage ;; esac

approve=()
if [ "${AUTO_APPROVE:-0}" = 1 ] && [ "$action" = apply ]; then
  approve=(-auto-approve)
fi

if [ "$env" = bootstrap ]; then
  case "$action" in plan | apply) ;; *) usage ;; esac
  : "${TF_STATE_BUCKET:?set TF_STATE_BUCKET to the state bucket name to create, e.g. totes-tfstate-<account id>}"
  terraform -chdir=terraform/bootstrap init -input=false
  terraform -chdir=terraform/bootstrap "$action" -input=false "${approve[@]}" \
    -var "state_bucket_name=$TF_STATE_BUCKET" "$@"
  exit 0
fi

tfvars="environments/$env.tfvars"
backend="environments/$env.s3.tfbackend"
for f in "$tfvars" "$backend"; do
  [ -f "terraform/$f" ] || { echo "unknown environment '$env': terraform/$f not found" >&2; exit 2; }
done
if [ "$action" = plan ] || [ "$action" = apply ]; then
  for stage in ingestion transform load; do
    [ -f "build/$stage.zip" ] || { echo "build/$stage.zip missing: run 'make build' first" >&2; exit 1; }
  done
fi

backend_args=(-backend-config="$backend")
if [ -n "${TF_STATE_BUCKET:-}" ]; then
  backend_args+=(-backend-config="bucket=$TF_STATE_BUCKET")
fi
# -reconfigure: the same .terraform/ folder serves every environment.
terraform -chdir=terraform init -input=false -reconfigure "${backend_args[@]}"

case "$action" in
  plan) terraform -chdir=terraform plan -input=false -var-file="$tfvars" -out="$env.tfplan" "$@" ;;
  apply) terraform -chdir=terraform apply -input=false "${approve[@]}" -var-file="$tfvars" "$@" ;;
  destroy) terraform -chdir=terraform destroy -input=false -var-file="$tfvars" "$@" ;;
  outputs)
    # What the ops commands read (totes migrate|status|... --outputs build/outputs-<env>.json).
    mkdir -p build
    terraform -chdir=terraform output -json >"build/outputs-$env.json"
    echo "wrote build/outputs-$env.json"
    ;;
esac
