# Sourced by the Terraform scripts: point Terraform at the offline provider
# mirror when there is one. Sets TF_CLI_CONFIG_FILE to a temporary CLI config
# (removed on exit) that installs every provider from the filesystem mirror;
# without a mirror it leaves Terraform's own configuration alone (the registry).
TF_PLUGIN_MIRROR="${TF_PLUGIN_MIRROR:-/opt/tf-plugins}"
if [ -d "$TF_PLUGIN_MIRROR" ]; then
  _tf_cli_config="$(mktemp "${TMPDIR:-/tmp}/tf-cli-config.XXXXXX")"
  trap 'rm -f "$_tf_cli_config"' EXIT
  cat >"$_tf_cli_config" <<HCL
provider_installation {
  filesystem_mirror {
    path    = "$TF_PLUGIN_MIRROR"
    include = ["registry.terraform.io/*/*"]
  }
}
HCL
  export TF_CLI_CONFIG_FILE="$_tf_cli_config"
elif [ -n "${TF_CLI_CONFIG_FILE:-}" ] && [ ! -f "$TF_CLI_CONFIG_FILE" ]; then
  # A TF_CLI_CONFIG_FILE naming a missing file only produces warnings.
  unset TF_CLI_CONFIG_FILE
fi
