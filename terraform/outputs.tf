# Names read by src/local/aws_resources.py (PipelineResources.from_terraform_outputs),
# the local runner, the wiring test and operators (docs/operations.md).

output "ingest_bucket_name" {
  description = "Ingest (landing) bucket: JSONL.gz data and ingestion run manifests."
  value       = aws_s3_bucket.pipeline["ingest"].id
}

output "processed_bucket_name" {
  description = "Processed bucket: Parquet tables, snapshots, quarantine and transform commit records."
  value       = aws_s3_bucket.pipeline["processed"].id
}

output "artifacts_bucket_name" {
  description = "Bucket holding the Lambda zips."
  value       = aws_s3_bucket.pipeline["artifacts"].id
}

output "ssm_prefix" {
  description = "SSM parameter prefix of the pipeline state (SSM_PREFIX)."
  value       = local.ssm_prefix
}

output "ssm_last_run_seq_parameter_name" {
  description = "SSM parameter holding the last committed ingestion run sequence id."
  value       = aws_ssm_parameter.last_run_seq.name
}

output "ssm_watermarks_parameter_name" {
  description = "SSM parameter holding the per-table ingestion watermarks."
  value       = aws_ssm_parameter.watermarks.name
}

output "ssm_snapshot_cursors_parameter_name" {
  description = "SSM parameter mirroring the first snapshots under way in key ranges."
  value       = aws_ssm_parameter.snapshot_cursors.name
}

output "source_db_secret_name" {
  description = "Secrets Manager secret of the totesys credentials (value set out of band)."
  value       = aws_secretsmanager_secret.source_db.name
}

output "source_db_secret_arn" {
  description = "ARN of the totesys credentials secret."
  value       = aws_secretsmanager_secret.source_db.arn
}

output "warehouse_db_secret_name" {
  description = "Secrets Manager secret of the warehouse credentials (value set out of band)."
  value       = aws_secretsmanager_secret.warehouse_db.name
}

output "warehouse_db_secret_arn" {
  description = "ARN of the warehouse credentials secret."
  value       = aws_secretsmanager_secret.warehouse_db.arn
}

output "ingestion_function_name" {
  description = "Name of the ingestion function."
  value       = aws_lambda_function.stage["ingestion"].function_name
}

output "ingestion_function_arn" {
  description = "ARN of the ingestion function."
  value       = aws_lambda_function.stage["ingestion"].arn
}

output "transform_function_name" {
  description = "Name of the transform function."
  value       = aws_lambda_function.stage["transform"].function_name
}

output "transform_function_arn" {
  description = "ARN of the transform function."
  value       = aws_lambda_function.stage["transform"].arn
}

output "load_function_name" {
  description = "Name of the load function."
  value       = aws_lambda_function.stage["load"].function_name
}

output "load_function_arn" {
  description = "ARN of the load function."
  value       = aws_lambda_function.stage["load"].arn
}

output "function_role_arns" {
  description = "Execution role ARN per stage."
  value       = { for stage, role in aws_iam_role.function : stage => role.arn }
}

output "ingestion_schedule_name" {
  description = "EventBridge Scheduler schedule that invokes ingestion."
  value       = aws_scheduler_schedule.pipeline["ingest"].name
}

output "ingestion_schedule_expression" {
  description = "How often ingestion runs."
  value       = aws_scheduler_schedule.pipeline["ingest"].schedule_expression
}

output "failure_queue_url" {
  description = "SQS queue receiving failed asynchronous invocations (on-failure destination and scheduler DLQ)."
  value       = aws_sqs_queue.failures.id
}

output "failure_queue_arn" {
  description = "ARN of the failure queue."
  value       = aws_sqs_queue.failures.arn
}

output "sns_topic_arn" {
  description = "SNS topic every alarm notifies."
  value       = aws_sns_topic.alarms.arn
}

output "dashboard_name" {
  description = "CloudWatch dashboard of the pipeline."
  value       = aws_cloudwatch_dashboard.pipeline.dashboard_name
}

output "log_group_names" {
  description = "CloudWatch log group per stage."
  value       = { for stage, group in aws_cloudwatch_log_group.function : stage => group.name }
}

output "aws_sdk_pandas_layer_arn" {
  description = "ARN of the AWS SDK for pandas layer attached to every function (from the SSM public parameter of aws_sdk_pandas_version); null when no layer is attached."
  value       = one(local.lambda_layers)
}

output "functions_security_group_id" {
  description = "Security group created for the functions in the VPC (null outside a VPC or when create_vpc_security_group is false)."
  value       = one(aws_security_group.functions[*].id)
}

output "vpc_endpoint_ids" {
  description = "VPC endpoint id per service (s3, ssm, secretsmanager, logs, monitoring) when create_vpc_endpoints is set."
  value = merge(
    { for service, endpoint in aws_vpc_endpoint.interface : service => endpoint.id },
    { for endpoint in aws_vpc_endpoint.s3 : "s3" => endpoint.id },
  )
}

output "warehouse_endpoint" {
  description = "Host name of the warehouse created by create_warehouse (the \"host\" of the warehouse secret); null when the warehouse is not created here."
  value       = one(aws_db_instance.warehouse[*].address)
}

output "warehouse_port" {
  description = "Port of the warehouse created by create_warehouse."
  value       = one(aws_db_instance.warehouse[*].port)
}

output "warehouse_database_name" {
  description = "Database name of the warehouse created by create_warehouse (the \"dbname\" of the warehouse secret)."
  value       = one(aws_db_instance.warehouse[*].db_name)
}

output "warehouse_security_group_id" {
  description = "Security group of the warehouse created by create_warehouse (add an ingress rule to it for an operator's host in the VPC)."
  value       = one(aws_security_group.warehouse[*].id)
}

output "warehouse_master_user_secret_arn" {
  description = "Secrets Manager secret, managed and rotated by RDS, holding the warehouse master user's credentials: for creating the loader role once (docs/operations.md), never for the pipeline."
  value       = one(flatten(aws_db_instance.warehouse[*].master_user_secret[*].secret_arn))
}

output "aws_region" {
  description = "Region of the deployment (the ops commands' boto3 region when given --outputs)."
  value       = local.region
}

output "lake_database" {
  description = "Glue database of the lake as tables (Athena: facts with every version, <fact>_current, dimensions latest)."
  value       = aws_glue_catalog_database.lake.name
}

output "athena_workgroup" {
  description = "Athena workgroup for lake queries (results encrypted in their own bucket, settings enforced)."
  value       = aws_athena_workgroup.lake.name
}

output "athena_results_bucket_name" {
  description = "Bucket holding the workgroup's query results (expired after athena_results_expiration_days)."
  value       = aws_s3_bucket.athena_results.bucket
}

output "analyst_policy_arn" {
  description = "IAM policy to attach to analysts: query the lake through the workgroup, read-only."
  value       = aws_iam_policy.analyst.arn
}
