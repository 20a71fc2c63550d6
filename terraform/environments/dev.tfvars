# Development environment: scripts/terraform.sh dev plan|apply (make plan / make deploy).
environment = "dev"
aws_region  = "eu-west-2"

# The AWS SDK for pandas layer: its ARN comes from the SSM public parameter of
# aws_sdk_pandas_version (terraform/variables.tf; equal to layer-requirements.txt).

# Network placement and the warehouse (docs/operations.md): to run the functions
# in private subnets and create the warehouse there, set for example
#   vpc_subnet_ids       = ["subnet-0abc...", "subnet-0def..."]  # two AZs
#   database_cidr_blocks = ["203.0.113.10/32"]                    # totesys
#   create_vpc_endpoints = true
#   create_warehouse     = true

ingestion_schedule_expression      = "rate(5 minutes)"
log_retention_days                 = 30
noncurrent_version_expiration_days = 30
force_destroy_buckets              = true

# Who gets the alarm emails (each address confirms its subscription once).
alarm_email_addresses = []

tags = {
  CostCentre = "data-dev"
}
