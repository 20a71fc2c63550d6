#!/usr/bin/env bash
# Check the GitHub Actions workflows: schema (check-jsonschema's built-in
# GitHub workflow schema) and security (zizmor, offline: no GitHub API calls).
# Accepted zizmor findings, each with its reason, are in .github/zizmor.yml.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${VENV_BIN:-.venv/bin}"
shopt -s nullglob
workflows=(.github/workflows/*.yml .github/workflows/*.yaml)
if [ ${#workflows[@]} -eq 0 ]; then
  echo "no workflows under .github/workflows" >&2
  exit 1
fi
"$BIN/check-jsonschema" --builtin-schema vendor.github-workflows "${workflows[@]}"
"$BIN/zizmor" --offline --no-progress --config .github/zizmor.yml .github/workflows
