# Development environment: scripts/terraform.sh dev plan|apply (make plan / make deploy).
environment = "dev"
aws_region  = "eu-west-2"

# AWS SDK for pandas managed layer, python3.12 x86_64, in eu-west-2 (account 336392948345
# publishes it; v3.16.1 of its "AWS Lambda Managed Layers" table). Verify the version for
# the region there before a first deploy: layer versions differ between regions.
aws_sdk_pandas_layer_arns = ["arn:aws:lambda:eu-west-2:336392948345:layer:AWSSDKPandas-Python312:26"]

ingestion_schedule_expression      = "rate(5 minutes)"
log_retention_days                 = 30
noncurrent_version_expiration_days = 30
force_destroy_buckets              = true

# Who gets the alarm emails (each address confirms its subscription once).
alarm_email_addresses = []

tags = {
  CostCentre = "data-dev"
}
