"""The exchange-rate URL: Terraform's default is a valid FX_RATES_URL (the real API); locally it is off."""

from __future__ import annotations

import re

from common.config import check_fx_url_template
from local.terraform_local import LOCAL_TFVARS, TERRAFORM_DIR, variable_default


def test_the_default_url_is_the_real_api_and_passes_the_handlers_check() -> None:
    default = variable_default("fx_rates_url_template")
    check_fx_url_template(default)  # what the ingestion handler checks FX_RATES_URL with
    assert default.startswith("https://cdn.jsdelivr.net/npm/@fawazahmed0/currency-api@{date}/")


def test_the_ingestion_function_gets_it_as_fx_rates_url_and_the_local_stack_never_the_internet() -> None:
    lambda_tf = (TERRAFORM_DIR / "lambda.tf").read_text()
    assert "{ FX_RATES_URL = var.fx_rates_url_template }" in lambda_tf
    assert re.search(r'^fx_rates_url_template\s*=\s*""$', LOCAL_TFVARS.read_text(), flags=re.MULTILINE)
