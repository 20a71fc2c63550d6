# One role per function, least privilege: exactly the calls each handler makes
# (docs/architecture.md). tests/functional/infra/test_terraform_wiring.py asserts
# these (action, resource) sets, so a change here must change the test too.
# No cloudwatch:PutMetricData: metrics are Embedded Metric Format log lines.

data "aws_iam_policy_document" "lambda_assume_role" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }

    # Confused-deputy guard: only Lambda acting for this account may assume it.
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "function" {
  for_each = local.function_names

  name               = "${each.value}-lambda"
  description        = "Execution role of the ${each.key} function."
  assume_role_policy = data.aws_iam_policy_document.lambda_assume_role.json
}

locals {
  ingest_bucket_arn    = aws_s3_bucket.pipeline["ingest"].arn
  processed_bucket_arn = aws_s3_bucket.pipeline["processed"].arn
  load_function_arn    = "arn:${local.partition}:lambda:${local.region}:${local.account_id}:function:${local.function_names["load"]}"
}

# Shared by every function: its own log group and the failure queue (Lambda sends
# on-failure destination records with the function's execution role).
data "aws_iam_policy_document" "function_base" {
  for_each = local.function_names

  statement {
    sid       = "OwnLogGroup"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.function[each.key].arn}:*"]
  }

  statement {
    sid       = "OnFailureDestination"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.failures.arn]
  }
}

data "aws_iam_policy_document" "ingestion" {
  source_policy_documents = [data.aws_iam_policy_document.function_base["ingestion"].json]

  statement {
    sid     = "LakeObjects"
    actions = ["s3:GetObject", "s3:PutObject"]
    resources = [
      "${local.ingest_bucket_arn}/data/*",
      "${local.ingest_bucket_arn}/state/*",
      "${local.ingest_bucket_arn}/runs/*",
    ]
  }

  statement {
    # Without ListBucket a missing key answers 403 instead of 404, and the
    # roll-forward over existing manifests needs to list runs/.
    sid       = "LakeList"
    actions   = ["s3:ListBucket"]
    resources = [local.ingest_bucket_arn]
  }

  statement {
    sid       = "IngestionState"
    actions   = ["ssm:GetParameter", "ssm:PutParameter"]
    resources = ["arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter${local.ssm_prefix}/ingestion/*"]
  }

  statement {
    sid       = "SourceCredentials"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.source_db.arn]
  }
}

data "aws_iam_policy_document" "transform" {
  source_policy_documents = [data.aws_iam_policy_document.function_base["transform"].json]

  statement {
    sid       = "ReadIngestObjects"
    actions   = ["s3:GetObject"]
    resources = ["${local.ingest_bucket_arn}/*"]
  }

  statement {
    sid       = "ListIngest"
    actions   = ["s3:ListBucket"]
    resources = [local.ingest_bucket_arn]
  }

  statement {
    sid       = "ProcessedObjects"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${local.processed_bucket_arn}/*"]
  }

  statement {
    sid       = "ListProcessed"
    actions   = ["s3:ListBucket"]
    resources = [local.processed_bucket_arn]
  }
}

data "aws_iam_policy_document" "load" {
  source_policy_documents = [data.aws_iam_policy_document.function_base["load"].json]

  statement {
    sid       = "ReadProcessedObjects"
    actions   = ["s3:GetObject"]
    resources = ["${local.processed_bucket_arn}/*"]
  }

  statement {
    sid       = "ListProcessed"
    actions   = ["s3:ListBucket"]
    resources = [local.processed_bucket_arn]
  }

  statement {
    sid       = "WarehouseCredentials"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_secretsmanager_secret.warehouse_db.arn]
  }

  statement {
    # After a load that committed a run, the handler asks for the analytics
    # summaries' fold by invoking its own function asynchronously with
    # {"action": "fold_summaries"} (docs/dashboard.md, Upkeep). Its own unqualified
    # ARN only, built from its name: the function's arn attribute would make a
    # cycle (the function depends on this policy).
    sid       = "RequestOwnSummaryFold"
    actions   = ["lambda:InvokeFunction"]
    resources = [local.load_function_arn]
  }
}

locals {
  function_policies = {
    ingestion = data.aws_iam_policy_document.ingestion.json
    transform = data.aws_iam_policy_document.transform.json
    load      = data.aws_iam_policy_document.load.json
  }
}

resource "aws_iam_role_policy" "function" {
  for_each = local.function_policies

  name   = "${local.function_names[each.key]}-access"
  role   = aws_iam_role.function[each.key].id
  policy = each.value
}

# In a VPC (vpc_subnet_ids), Lambda creates and removes the functions' network
# interfaces with the execution role. Narrower than AWSLambdaVPCAccessExecutionRole:
# interfaces only in the configured subnets with the configured security groups,
# and only this account's and region's interfaces; the two Describe calls have no
# resource-level permissions (IAM service authorization reference), hence "*".
locals {
  ec2_arn_prefix = "arn:${local.partition}:ec2:${local.region}:${local.account_id}"
}

data "aws_iam_policy_document" "function_network" {
  count = local.in_vpc ? 1 : 0

  statement {
    sid     = "CreateInterfacesInTheConfiguredSubnets"
    actions = ["ec2:CreateNetworkInterface"]
    resources = concat(
      ["${local.ec2_arn_prefix}:network-interface/*"],
      [for id in var.vpc_subnet_ids : "${local.ec2_arn_prefix}:subnet/${id}"],
      [for id in local.function_security_group_ids : "${local.ec2_arn_prefix}:security-group/${id}"],
    )
  }

  statement {
    sid       = "ManageOwnInterfaces"
    actions   = ["ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"]
    resources = ["${local.ec2_arn_prefix}:network-interface/*"]
  }

  statement {
    sid       = "DescribeInterfaces"
    actions   = ["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "function_network" {
  for_each = local.in_vpc ? local.function_names : {}

  name   = "${each.value}-network"
  role   = aws_iam_role.function[each.key].id
  policy = data.aws_iam_policy_document.function_network[0].json
}

################################################################################
# EventBridge Scheduler -> the scheduled functions (events.tf: ingestion, load)
################################################################################

data "aws_iam_policy_document" "scheduler_assume_role" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "scheduler" {
  for_each = local.scheduled_stages

  name               = "${local.name}-${each.key}-scheduler"
  description        = "Lets EventBridge Scheduler invoke the ${each.key} function."
  assume_role_policy = data.aws_iam_policy_document.scheduler_assume_role.json
}

data "aws_iam_policy_document" "scheduler" {
  for_each = local.scheduled_stages

  statement {
    sid       = "InvokeScheduledFunction"
    actions   = ["lambda:InvokeFunction"]
    resources = [aws_lambda_function.stage[each.key].arn]
  }

  statement {
    # The schedule's dead-letter queue: an invocation the scheduler could not
    # deliver lands in the failure queue (and its alarm) instead of vanishing.
    sid       = "DeadLetter"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.failures.arn]
  }
}

resource "aws_iam_role_policy" "scheduler" {
  for_each = local.scheduled_stages

  name   = "${local.name}-${each.key}-scheduler"
  role   = aws_iam_role.scheduler[each.key].id
  policy = data.aws_iam_policy_document.scheduler[each.key].json
}

moved {
  from = aws_iam_role.scheduler
  to   = aws_iam_role.scheduler["ingestion"]
}

moved {
  from = aws_iam_role_policy.scheduler
  to   = aws_iam_role_policy.scheduler["ingestion"]
}
