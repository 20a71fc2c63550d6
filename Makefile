# Terrific Totes pipeline. Every target sets up what it needs (venv, packages,
# PostgreSQL binaries) on first use and is quick when nothing changed.
#   make run     the whole pipeline locally (PostgreSQL + moto), end to end
#   make test    every test (unit + integration against real PostgreSQL and moto)

SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SCALE ?= 1
SEED ?= 42
ENV ?= dev
# make test's pytest-xdist workers (each its own PostgreSQL and moto): auto = one more than the
# cores (tests/conftest.py); 0 = one process, in file order (docs/testing.md).
TEST_WORKERS ?= auto
TF_DIR := terraform
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.DEFAULT_GOAL := help
.PHONY: help venv system-deps browser-deps run test test-unit lint security bench build deploy migrate plan destroy bootstrap \
        local-up local-down tf-local dashboard clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt -e .
	@touch $@

venv: $(STAMP) ## create/update the virtual environment

system-deps:
	@scripts/ensure-postgres.sh

browser-deps:  # Debian's chromium + chromedriver for the dashboard's browser tests
	@scripts/ensure-chromium.sh

run: venv system-deps ## run the whole pipeline locally (SCALE=1 SEED=42)
	$(BIN)/totes run-local --scale $(SCALE) --seed $(SEED)

test: venv system-deps browser-deps ## run all tests (unit + integration + browser), TEST_WORKERS in parallel
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadgroup

test-unit: venv ## only the fast unit tests
	$(BIN)/pytest -m "not integration"

lint: venv ## ruff, terraform fmt/validate, workflow checks
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	scripts/check-terraform.sh
	scripts/check-workflows.sh

security: venv ## bandit, pip-audit, checkov
	$(BIN)/bandit -q -r src -c pyproject.toml
	$(BIN)/pip-audit -r requirements.txt -r requirements-dev.txt --progress-spinner off
	$(BIN)/checkov -d $(TF_DIR) --quiet --compact --skip-download  # offline: no Prisma Cloud look-ups
	@# Again with every optional resource on (VPC, endpoints, warehouse): with the defaults their
	@# count is 0 and checkov skips their settings. Graph checks (CKV2_*, and CKV_AWS_21, which
	@# follows the separate versioning resource) misread count under --var-file; the scan above runs them.
	$(BIN)/checkov -d $(TF_DIR) --quiet --compact --skip-download \
	  --var-file $(TF_DIR)/environments/all-options.tfvars --skip-check 'CKV2_*,CKV_AWS_21'

bench: venv system-deps ## benchmarks; results in docs/benchmarks.md and benchmarks/results/
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

build: venv ## reproducible Lambda zips in build/ (RDS_CA_BUNDLE=path: the RDS CA file to ship)
	$(BIN)/python scripts/build_lambdas.py $(BUILD_ARGS) $(if $(RDS_CA_BUNDLE),--rds-ca-bundle $(RDS_CA_BUNDLE))

local-up: venv system-deps ## start the local stack and leave it running (.local/stack.json)
	$(BIN)/totes local up

dashboard: venv system-deps ## serve the analytics app on http://127.0.0.1:8050 (DASHBOARD_ARGS="--port 8060")
	$(BIN)/totes dashboard $(DASHBOARD_ARGS)

local-down: venv ## stop the local stack
	$(BIN)/totes local down

tf-local: venv system-deps ## apply the Terraform to the local moto server
	$(BIN)/totes local terraform-apply

plan: build ## terraform plan for ENV (dev by default)
	scripts/terraform.sh $(ENV) plan

deploy: BUILD_ARGS += --require-rds-ca
deploy: build ## build the zips (with the RDS CA), terraform apply, then migrate ENV's warehouse
	scripts/terraform.sh $(ENV) apply
	$(MAKE) migrate ENV=$(ENV)

migrate: venv ## apply pending warehouse migrations to ENV's deployment (through its load function)
	scripts/terraform.sh $(ENV) outputs
	$(BIN)/totes migrate --outputs build/outputs-$(ENV).json

bootstrap: ## create the Terraform state bucket once per account (TF_STATE_BUCKET=name)
	scripts/terraform.sh bootstrap apply

destroy: ## terraform destroy for ENV (asks for confirmation)
	@read -r -p "Destroy every resource of environment '$(ENV)'? Type the environment name to confirm: " ans; \
	  [ "$$ans" = "$(ENV)" ] || { echo "not confirmed; nothing destroyed"; exit 1; }
	scripts/terraform.sh $(ENV) destroy

clean: ## remove the venv, build output and local stack data (stops a running stack)
	-@test -x $(BIN)/totes && $(BIN)/totes local down 2>/dev/null || true
	rm -rf $(VENV) build .local .pytest_cache .ruff_cache .coverage htmlcov
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
