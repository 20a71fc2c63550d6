# Naming and shared values. Every resource name starts with local.name
# ("<project>-<environment>") so several environments can share one account.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  name       = "${var.project}-${var.environment}"
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  # SSM parameter prefix the ingestion stage reads (docs/architecture.md: SSM_PREFIX).
  ssm_prefix = "/${var.project}/${var.environment}"

  # Bucket names are global across all AWS accounts: the account id keeps them unique.
  bucket_names = {
    ingest    = "${local.name}-ingest-${local.account_id}"
    processed = "${local.name}-processed-${local.account_id}"
    artifacts = "${local.name}-artifacts-${local.account_id}"
  }

  # The three stages. The handler names are the contract in docs/architecture.md.
  functions = {
    ingestion = {
      handler     = "ingestion.handler.lambda_handler"
      description = "Extracts changed totesys rows into the ingest bucket (JSONL.gz) and commits a run manifest."
    }
    transform = {
      handler     = "transform.handler.lambda_handler"
      description = "Turns committed ingestion runs into star-schema Parquet in the processed bucket."
    }
    load = {
      handler     = "load.handler.lambda_handler"
      description = "Loads committed transform runs into the PostgreSQL warehouse."
    }
  }

  function_names = { for stage in keys(local.functions) : stage => "${local.name}-${stage}" }

  # CloudWatch alarms take the timeout in milliseconds.
  function_timeouts_ms = { for stage, settings in var.function_settings : stage => settings.timeout * 1000 }

  tags = merge(
    {
      Project     = var.project
      Environment = var.environment
      ManagedBy   = "terraform"
    },
    var.tags,
  )
}
