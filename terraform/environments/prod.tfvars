# Production: deployed by .github/workflows/deploy.yml after approval of the
# GitHub environment "prod", or scripts/terraform.sh prod plan|apply.
environment = "prod"
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
log_retention_days                 = 365
noncurrent_version_expiration_days = 365
force_destroy_buckets              = false

function_settings = {
  ingestion = { memory_size = 1024, timeout = 300 }
  transform = { memory_size = 3008, timeout = 900 }
  load      = { memory_size = 2048, timeout = 900 }
}

alarm_email_addresses = []

tags = {
  CostCentre = "data"
}
