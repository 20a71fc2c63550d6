"""Building the Lambda zips (``lambda_build.zips``): ``make build`` and the local Terraform apply use it.

A package rather than a script so that ``local.terraform_local`` imports it like any
other module. Never shipped in a zip itself.
"""
