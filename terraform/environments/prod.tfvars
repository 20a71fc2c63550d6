# Production: deployed by .github/workflows/deploy.yml after approval of the
# GitHub environment "prod", or scripts/terraform.sh prod plan|apply.
environment = "prod"
aws_region  = "eu-west-2"

# AWS SDK for pandas managed layer, python3.12 x86_64, in eu-west-2. Keep in step with dev.
aws_sdk_pandas_layer_arns = ["arn:aws:lambda:eu-west-2:336392948345:layer:AWSSDKPandas-Python312:26"]

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
