# Alerting (SPEC §3: a failure in any stage reaches email through SNS).
# Every alarm below sends ALARM and OK to one topic; people subscribe by email.

################################################################################
# Topic
################################################################################

# CloudWatch cannot publish to a topic encrypted with the AWS-managed aws/sns key
# (its key policy does not let cloudwatch.amazonaws.com use it), so the topic has
# its own customer-managed key that does.
data "aws_iam_policy_document" "alarm_topic_key" {
  #checkov:skip=CKV_AWS_109:A key policy's "*" resource means this key only; the account root statement is the AWS default that keeps the key manageable.
  #checkov:skip=CKV_AWS_111:A key policy's "*" resource means this key only; the account root statement is the AWS default that keeps the key manageable.
  #checkov:skip=CKV_AWS_356:A key policy's "*" resource means this key only.
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchAlarmsPublish"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_kms_key" "alarm_topic" {
  description             = "Encrypts the ${local.name} alarm topic; usable by CloudWatch alarms."
  enable_key_rotation     = true
  deletion_window_in_days = 7
  policy                  = data.aws_iam_policy_document.alarm_topic_key.json
}

resource "aws_kms_alias" "alarm_topic" {
  name          = "alias/${local.name}-alarms"
  target_key_id = aws_kms_key.alarm_topic.key_id
}

resource "aws_sns_topic" "alarms" {
  name              = "${local.name}-alarms"
  display_name      = "Totes pipeline ${var.environment} alarms"
  kms_master_key_id = aws_kms_key.alarm_topic.arn
}

resource "aws_sns_topic_subscription" "alarm_email" {
  for_each = toset(var.alarm_email_addresses)

  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = each.value
}

locals {
  alarm_actions = [aws_sns_topic.alarms.arn]
}

################################################################################
# Per function: ERROR log lines, Errors, Throttles, Duration near the timeout
################################################################################

resource "aws_cloudwatch_log_metric_filter" "error_lines" {
  for_each = aws_cloudwatch_log_group.function

  name           = "${local.function_names[each.key]}-error-lines"
  log_group_name = each.value.name
  # Powertools JSON lines: an alarm-worthy problem is logged at ERROR.
  pattern = "{ $.level = \"ERROR\" }"

  metric_transformation {
    name      = "ErrorLogLines"
    namespace = "${var.metrics_namespace}/Logs"
    value     = "1"
    dimensions = {
      service = "$.service"
    }
    unit = "Count"
  }
}

resource "aws_cloudwatch_metric_alarm" "error_lines" {
  for_each = local.function_names

  alarm_name          = "${each.value}-error-log-lines"
  alarm_description   = "The ${each.key} function logged at ERROR (bad input quarantined, or a failed run)."
  namespace           = "${var.metrics_namespace}/Logs"
  metric_name         = "ErrorLogLines"
  dimensions          = { service = each.key }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  depends_on = [aws_cloudwatch_log_metric_filter.error_lines]
}

resource "aws_cloudwatch_metric_alarm" "function_errors" {
  for_each = aws_lambda_function.stage

  alarm_name          = "${each.value.function_name}-errors"
  alarm_description   = "The ${each.key} function failed (an invocation raised; Lambda retries, then the failure queue)."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = each.value.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "function_throttles" {
  for_each = aws_lambda_function.stage

  alarm_name          = "${each.value.function_name}-throttles"
  alarm_description   = "The ${each.key} function was throttled (concurrency limit reached)."
  namespace           = "AWS/Lambda"
  metric_name         = "Throttles"
  dimensions          = { FunctionName = each.value.function_name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "function_duration" {
  for_each = aws_lambda_function.stage

  alarm_name          = "${each.value.function_name}-duration-near-timeout"
  alarm_description   = "p99 duration of ${each.key} is above ${var.duration_alarm_threshold_percent}% of its timeout: raise the timeout or memory before runs start timing out."
  namespace           = "AWS/Lambda"
  metric_name         = "Duration"
  dimensions          = { FunctionName = each.value.function_name }
  extended_statistic  = "p99"
  period              = 900
  evaluation_periods  = 1
  threshold           = local.function_timeouts_ms[each.key] * var.duration_alarm_threshold_percent / 100
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

################################################################################
# Pipeline: failed invocations, freshness, quarantined rows
################################################################################

resource "aws_cloudwatch_metric_alarm" "failure_queue" {
  alarm_name          = "${local.name}-failed-invocations"
  alarm_description   = "An invocation failed after all retries (or the schedule could not deliver one); see the failure queue ${aws_sqs_queue.failures.name}."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.failures.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "freshness" {
  alarm_name        = "${local.name}-freshness"
  alarm_description = "load committed no run for ${var.freshness_target_minutes} minutes: the warehouse is going stale (SPEC §3 freshness target). Every ingestion run, also an empty one, flows through to load as a heartbeat."
  namespace         = var.metrics_namespace
  metric_name       = "RunsCommitted"
  dimensions        = { service = "load" }
  statistic         = "Sum"
  period            = 300
  # ALARM only when every 5-minute period of the target window had no commit.
  evaluation_periods  = var.freshness_target_minutes / 5
  datapoints_to_alarm = var.freshness_target_minutes / 5
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  # No data at all means nothing ran: that is exactly what this alarm is for.
  treat_missing_data = "breaching"
  alarm_actions      = local.alarm_actions
  ok_actions         = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "rows_quarantined" {
  # SPEC §3: bad input is kept, counted, and raises an alert.
  for_each = toset(["transform", "load"])

  alarm_name          = "${local.name}-${each.key}-rows-quarantined"
  alarm_description   = "${each.key} sent rows to quarantine; inspect the quarantine objects/records of the run."
  namespace           = var.metrics_namespace
  metric_name         = "RowsQuarantined"
  dimensions          = { service = each.key }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "future_rows" {
  # A source row stamped beyond run start + FUTURE_TOLERANCE_SECONDS is outside every
  # window until its time comes (docs/ingestion.md, "Rows stamped in the future").
  alarm_name          = "${local.name}-ingestion-future-rows"
  alarm_description   = "totesys holds rows whose last_updated lies in the future: they are not ingested until then. `totes status` names them; fix the source's clock or the rows."
  namespace           = var.metrics_namespace
  metric_name         = "FutureRows"
  dimensions          = { service = "ingestion" }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}
