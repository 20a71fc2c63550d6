# How the stages are woken up (docs/architecture.md, Handlers, events and triggers):
#   EventBridge Scheduler -> ingestion (routine runs, the comparison), load (the fold)
#   ingest bucket    runs/*.json created -> transform
#   processed bucket runs/*.json created -> load
# Every trigger is asynchronous; a failed invocation is retried by Lambda and then
# recorded in the failure queue, whose alarm reaches email (SPEC §3: nothing lost
# silently). Events only wake a stage: it works out the pending runs itself.

resource "aws_sqs_queue" "failures" {
  name                      = "${local.name}-failed-invocations"
  message_retention_seconds = var.failure_queue_retention_seconds
  # SSE-SQS: encrypted at rest with no key policy to manage; Lambda destinations
  # and the scheduler's DLQ can write to it with plain sqs:SendMessage.
  sqs_managed_sse_enabled = true
}

data "aws_iam_policy_document" "failures_tls_only" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.failures.arn]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sqs_queue_policy" "failures" {
  queue_url = aws_sqs_queue.failures.id
  policy    = data.aws_iam_policy_document.failures_tls_only.json
}

################################################################################
# Asynchronous invocation: retries, maximum age, on-failure destination
################################################################################

resource "aws_lambda_function_event_invoke_config" "stage" {
  for_each = aws_lambda_function.stage

  function_name                = each.value.function_name
  maximum_retry_attempts       = var.async_maximum_retry_attempts
  maximum_event_age_in_seconds = var.async_maximum_event_age_seconds

  destination_config {
    on_failure {
      destination = aws_sqs_queue.failures.arn
    }
  }

  # The role must be allowed to send before Lambda accepts the destination.
  depends_on = [aws_iam_role_policy.function]
}

################################################################################
# Schedules -> ingestion (routine runs, the comparison), load (the summaries' fold)
################################################################################

locals {
  # One schedule per kind of scheduled invocation; stage is the function it invokes.
  # The comparison's input makes the ingestion handler compare the source with the lake
  # (comparison.tf); the routine run's input is ignored by the handler, a fixed body
  # makes such runs easy to spot. The fold's is the load handler's fold action
  # (summary_fold.tf): the backstop of the fold each committing load requests itself.
  schedules = {
    ingest = {
      name        = "${local.name}-ingestion"
      description = "Runs an ingestion every interval; the rest of the pipeline follows by S3 events."
      stage       = "ingestion"
      expression  = var.ingestion_schedule_expression
      enabled     = var.ingestion_schedule_enabled
      input       = { source = "scheduler" }
    }
    compare = {
      name        = "${local.name}-comparison"
      description = "Compares the source with the lake every interval (deletions, changes that keep last_updated)."
      stage       = "ingestion"
      expression  = "rate(${var.comparison_interval_minutes} minutes)"
      enabled     = var.comparison_schedule_enabled
      input       = { action = "compare" }
    }
    fold = {
      name        = "${local.name}-summary-fold"
      description = "Folds whatever the analytics summaries still lack every interval (a lost fold request, a quiet source)."
      stage       = "load"
      expression  = "rate(${var.summary_fold_interval_minutes} minutes)"
      enabled     = true
      input       = { action = "fold_summaries" }
    }
  }

  # The functions some schedule invokes: one scheduler role each (iam.tf).
  scheduled_stages = toset([for schedule in values(local.schedules) : schedule.stage])
}

resource "aws_scheduler_schedule" "pipeline" {
  #checkov:skip=CKV_AWS_297:Each schedule's only data is a constant input; the AWS-owned key is enough and a CMK would need a key policy for the scheduler.
  for_each = local.schedules

  name                = each.value.name
  description         = each.value.description
  schedule_expression = each.value.expression
  state               = each.value.enabled ? "ENABLED" : "DISABLED"

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_lambda_function.stage[each.value.stage].arn
    role_arn = aws_iam_role.scheduler[each.value.stage].arn
    input    = jsonencode(each.value.input)

    retry_policy {
      maximum_event_age_in_seconds = 300
      maximum_retry_attempts       = 2
    }

    dead_letter_config {
      arn = aws_sqs_queue.failures.arn
    }
  }

  depends_on = [aws_iam_role_policy.scheduler]
}

moved {
  from = aws_scheduler_schedule.ingestion
  to   = aws_scheduler_schedule.ingestion["ingest"]
}

moved {
  from = aws_scheduler_schedule.comparison
  to   = aws_scheduler_schedule.ingestion["compare"]
}

moved {
  from = aws_scheduler_schedule.ingestion["ingest"]
  to   = aws_scheduler_schedule.pipeline["ingest"]
}

moved {
  from = aws_scheduler_schedule.ingestion["compare"]
  to   = aws_scheduler_schedule.pipeline["compare"]
}

################################################################################
# Commit records -> next stage
################################################################################

locals {
  # bucket key => the stage its runs/*.json commit records wake up
  commit_triggers = {
    ingest    = "transform"
    processed = "load"
  }
}

resource "aws_lambda_permission" "s3_commit" {
  for_each = local.commit_triggers

  statement_id   = "AllowS3Commit-${each.key}"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.stage[each.value].function_name
  principal      = "s3.amazonaws.com"
  source_arn     = aws_s3_bucket.pipeline[each.key].arn
  source_account = local.account_id
}

resource "aws_s3_bucket_notification" "commit" {
  for_each = local.commit_triggers

  bucket = aws_s3_bucket.pipeline[each.key].id

  lambda_function {
    id                  = "${each.value}-on-commit"
    lambda_function_arn = aws_lambda_function.stage[each.value].arn
    events              = ["s3:ObjectCreated:*"]
    filter_prefix       = "runs/"
    filter_suffix       = ".json"
  }

  # S3 tests the destination when the notification is written.
  depends_on = [aws_lambda_permission.s3_commit]
}
