# One dashboard with the pipeline's own metrics (docs/architecture.md, Metrics)
# and the Lambda/SQS health metrics the alarms watch.

locals {
  ns     = var.metrics_namespace
  stages = ["ingestion", "transform", "load"]

  # [title, [[metric, service], ...], stat]
  pipeline_widgets = [
    ["Runs committed", [for s in local.stages : ["RunsCommitted", s]], "Sum"],
    ["Rows per stage", [["RowsExtracted", "ingestion"], ["RowsTransformed", "transform"], ["RowsLoaded", "load"]], "Sum"],
    ["Source lag and change-to-load lag (s)", [["SourceLagSeconds", "ingestion"], ["ChangeToLoadLagSeconds", "load"]], "Maximum"],
    ["Quarantined rows, sequence gaps, inferred members", [["RowsQuarantined", "transform"], ["RowsQuarantined", "load"], ["SequenceGaps", "ingestion"], ["SequenceGaps", "transform"], ["InferredMembers", "load"]], "Sum"],
    ["Run duration (ms)", [for s in local.stages : ["RunDurationMs", s]], "Maximum"],
  ]

  lambda_widgets = [
    ["Lambda errors", "Errors", "Sum"],
    ["Lambda throttles", "Throttles", "Sum"],
    ["Lambda duration p99 (ms)", "Duration", "p99"],
  ]

  dashboard_widgets = concat(
    [for i, w in local.pipeline_widgets : {
      type   = "metric"
      x      = (i % 2) * 12
      y      = floor(i / 2) * 6
      width  = 12
      height = 6
      properties = {
        title   = w[0]
        region  = local.region
        stat    = w[2]
        period  = 300
        view    = "timeSeries"
        metrics = [for m in w[1] : [local.ns, m[0], "service", m[1]]]
      }
    }],
    [for i, w in local.lambda_widgets : {
      type   = "metric"
      x      = i * 8
      y      = 18
      width  = 8
      height = 6
      properties = {
        title   = w[0]
        region  = local.region
        stat    = w[2]
        period  = 300
        view    = "timeSeries"
        metrics = [for s in local.stages : ["AWS/Lambda", w[1], "FunctionName", local.function_names[s]]]
      }
    }],
    [{
      type   = "metric"
      x      = 0
      y      = 24
      width  = 12
      height = 6
      properties = {
        title   = "Failed invocations waiting in the failure queue"
        region  = local.region
        stat    = "Maximum"
        period  = 300
        view    = "timeSeries"
        metrics = [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", aws_sqs_queue.failures.name]]
      }
    }],
    [{
      type   = "alarm"
      x      = 12
      y      = 24
      width  = 12
      height = 6
      properties = {
        title = "Pipeline alarms"
        alarms = concat(
          [aws_cloudwatch_metric_alarm.freshness.arn, aws_cloudwatch_metric_alarm.failure_queue.arn],
          [for a in aws_cloudwatch_metric_alarm.function_errors : a.arn],
        )
      }
    }],
  )
}

resource "aws_cloudwatch_dashboard" "pipeline" {
  dashboard_name = "${local.name}-pipeline"
  dashboard_body = jsonencode({ widgets = local.dashboard_widgets })
}
