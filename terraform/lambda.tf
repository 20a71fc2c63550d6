# The three stage functions, deployed from zips in the artifacts bucket.
# The zips come from scripts/build_lambdas.py (reproducible: the same code gives
# the same bytes), so an unchanged stage keeps its hash and is not redeployed.
# pandas, pyarrow, pg8000 and awswrangler come from the AWS SDK for pandas layer.

# The layer's ARN differs per region and layer version; AWS publishes it as a public
# SSM parameter per library version (aws-sdk-pandas docs, install.rst "AWS Lambda
# Layer"), so the ARN follows aws_sdk_pandas_version instead of being copied by hand.
data "aws_ssm_parameter" "aws_sdk_pandas_layer" {
  count = var.attach_aws_sdk_pandas_layer ? 1 : 0

  name = "/aws/service/aws-sdk-pandas/${var.aws_sdk_pandas_version}/py${trimprefix(local.lambda_runtime, "python")}/${local.lambda_architecture}/layer-arn"
}

locals {
  lambda_runtime = "python3.12"
  # The zips' wheels are manylinux x86_64.
  lambda_architecture = "x86_64"
  # A String parameter, not a secret: its plain value.
  lambda_layers = data.aws_ssm_parameter.aws_sdk_pandas_layer[*].insecure_value

  lambda_build_dir = coalesce(var.lambda_build_dir, "${path.module}/../build")
  lambda_zips      = { for stage in keys(local.functions) : stage => "${local.lambda_build_dir}/${stage}.zip" }

  # Environment variables per function (docs/architecture.md, Configuration).
  # POWERTOOLS_SERVICE_NAME is also the metrics' "service" dimension the alarms use.
  common_environment = {
    INGEST_BUCKET                = aws_s3_bucket.pipeline["ingest"].id
    POWERTOOLS_METRICS_NAMESPACE = var.metrics_namespace
    POWERTOOLS_LOG_LEVEL         = "INFO"
  }
  function_environment = {
    ingestion = merge(
      local.common_environment,
      {
        POWERTOOLS_SERVICE_NAME = "ingestion"
        SSM_PREFIX              = local.ssm_prefix
        SOURCE_DB_SECRET        = aws_secretsmanager_secret.source_db.name
        LOOKBACK_SECONDS        = tostring(var.lookback_seconds)
        SNAPSHOT_ROWS_PER_RUN   = tostring(var.snapshot_rows_per_run)
      },
      # Unset (not empty) means "all eleven tables".
      var.source_tables == "" ? {} : { SOURCE_TABLES = var.source_tables },
      # Exchange rates (issue 17): unset (empty) turns the step off.
      var.fx_rates_url_template == "" ? {} : { FX_RATES_URL = var.fx_rates_url_template },
    )
    transform = merge(local.common_environment, {
      POWERTOOLS_SERVICE_NAME = "transform"
      PROCESSED_BUCKET        = aws_s3_bucket.pipeline["processed"].id
    })
    load = merge(local.common_environment, {
      POWERTOOLS_SERVICE_NAME = "load"
      PROCESSED_BUCKET        = aws_s3_bucket.pipeline["processed"].id
      WAREHOUSE_DB_SECRET     = aws_secretsmanager_secret.warehouse_db.name
    })
  }
}

resource "aws_s3_object" "lambda_zip" {
  for_each = local.lambda_zips

  bucket = aws_s3_bucket.pipeline["artifacts"].id
  key    = "lambda/${each.key}.zip"
  source = each.value
  # Re-upload only when the zip's bytes change (the build is reproducible).
  source_hash = filemd5(each.value)

  # The bucket is versioned; the function pins the exact version below.
  depends_on = [aws_s3_bucket_versioning.pipeline]
}

resource "aws_cloudwatch_log_group" "function" {
  #checkov:skip=CKV_AWS_158:Logs hold no secrets (SPEC §3: credentials never reach logs); a CMK would need its own key policy for the logs service. Default encryption applies.
  #checkov:skip=CKV_AWS_338:Retention is a variable (log_retention_days, 90 by default); a year of debug logs is not needed, metrics keep the history.
  for_each = local.function_names

  # Created before the function so Lambda never creates it without retention,
  # and so the role needs no logs:CreateLogGroup.
  name              = "/aws/lambda/${each.value}"
  retention_in_days = var.log_retention_days
}

resource "aws_lambda_function" "stage" {
  #checkov:skip=CKV_AWS_50:X-Ray needs xray:Put* on "*"; the stages emit structured logs and EMF metrics instead.
  #checkov:skip=CKV_AWS_115:Reserved concurrency is a variable per function (function_settings), unreserved by default because new accounts have too little unreserved capacity to carve from.
  #checkov:skip=CKV_AWS_116:Asynchronous failures go to an on-failure destination (aws_lambda_function_event_invoke_config -> SQS), which supersedes a DLQ.
  #checkov:skip=CKV_AWS_117:VPC placement is a choice per environment (vpc_subnet_ids, network.tf); outside a VPC the databases are reached over verify-full TLS on their own endpoints.
  #checkov:skip=CKV_AWS_173:The environment holds only resource names (buckets, prefix, secret ids), no secrets; the default AWS-managed key encrypts it at rest.
  #checkov:skip=CKV_AWS_272:Code signing needs AWS Signer profiles; integrity comes from the reproducible build and the pinned S3 object version.
  for_each = local.functions

  function_name = local.function_names[each.key]
  description   = each.value.description
  role          = aws_iam_role.function[each.key].arn
  handler       = each.value.handler
  runtime       = local.lambda_runtime
  architectures = [local.lambda_architecture]

  s3_bucket         = aws_s3_object.lambda_zip[each.key].bucket
  s3_key            = aws_s3_object.lambda_zip[each.key].key
  s3_object_version = aws_s3_object.lambda_zip[each.key].version_id
  source_code_hash  = filebase64sha256(local.lambda_zips[each.key])

  layers                         = local.lambda_layers
  memory_size                    = var.function_settings[each.key].memory_size
  timeout                        = var.function_settings[each.key].timeout
  reserved_concurrent_executions = var.function_settings[each.key].reserved_concurrency

  ephemeral_storage {
    size = var.function_settings[each.key].ephemeral_storage
  }

  environment {
    variables = local.function_environment[each.key]
  }

  dynamic "vpc_config" {
    for_each = local.in_vpc ? [1] : []

    content {
      subnet_ids         = var.vpc_subnet_ids
      security_group_ids = local.function_security_group_ids
    }
  }

  # Lambda logs to /aws/lambda/<function name>, the group created above; it
  # creates the functions' network interfaces with the role's ENI permissions.
  depends_on = [
    aws_cloudwatch_log_group.function,
    aws_iam_role_policy.function,
    aws_iam_role_policy.function_network,
  ]
}
