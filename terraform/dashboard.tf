# One dashboard with the pipeline's own metrics (docs/architecture.md, Metrics)
# and the Lambda/SQS health metrics the alarms watch.

locals {
  stages = ["ingestion", "transform", "load"]

  # Each graph: a title, a statistic and its metrics in CloudWatch's
  # [namespace, metric, dimension name, dimension value] form.
  dashboard_graphs = [
    {
      title   = "Runs committed"
      stat    = "Sum"
      metrics = [for s in local.stages : [var.metrics_namespace, "RunsCommitted", "service", s]]
    },
    {
      title = "Rows per stage"
      stat  = "Sum"
      metrics = [
        [var.metrics_namespace, "RowsExtracted", "service", "ingestion"],
        [var.metrics_namespace, "RowsTransformed", "service", "transform"],
        [var.metrics_namespace, "RowsLoaded", "service", "load"],
      ]
    },
    {
      title = "Source lag and change-to-load lag (s)"
      stat  = "Maximum"
      metrics = [
        [var.metrics_namespace, "SourceLagSeconds", "service", "ingestion"],
        [var.metrics_namespace, "ChangeToLoadLagSeconds", "service", "load"],
      ]
    },
    {
      title = "Quarantined rows, sequence gaps, inferred members"
      stat  = "Sum"
      metrics = [
        [var.metrics_namespace, "RowsQuarantined", "service", "transform"],
        [var.metrics_namespace, "RowsQuarantined", "service", "load"],
        [var.metrics_namespace, "SequenceGaps", "service", "ingestion"],
        [var.metrics_namespace, "SequenceGaps", "service", "transform"],
        [var.metrics_namespace, "InferredMembers", "service", "load"],
      ]
    },
    {
      title = "Run duration, summaries' fold duration (ms)"
      stat  = "Maximum"
      metrics = concat(
        [for s in local.stages : [var.metrics_namespace, "RunDurationMs", "service", s]],
        [[var.metrics_namespace, "SummaryFoldDurationMs", "service", "load"]],
      )
    },
    {
      # The fold of the analytics summaries: its own invocation of the load function,
      # requested by each committing load and scheduled as a backstop (summary_fold.tf).
      title = "Summaries' folds: completed, runs folded, failed, requests failed"
      stat  = "Sum"
      metrics = [
        [var.metrics_namespace, "SummaryFoldsCompleted", "service", "load"],
        [var.metrics_namespace, "RunsFolded", "service", "load"],
        [var.metrics_namespace, "SummaryFoldsFailed", "service", "load"],
        [var.metrics_namespace, "SummaryFoldRequestFailed", "service", "load"],
      ]
    },
    {
      title   = "Lambda errors"
      stat    = "Sum"
      metrics = [for s in local.stages : ["AWS/Lambda", "Errors", "FunctionName", local.function_names[s]]]
    },
    {
      title   = "Lambda throttles"
      stat    = "Sum"
      metrics = [for s in local.stages : ["AWS/Lambda", "Throttles", "FunctionName", local.function_names[s]]]
    },
    {
      title   = "Lambda duration p99 (ms)"
      stat    = "p99"
      metrics = [for s in local.stages : ["AWS/Lambda", "Duration", "FunctionName", local.function_names[s]]]
    },
    {
      title   = "Failed invocations waiting in the failure queue"
      stat    = "Maximum"
      metrics = [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", aws_sqs_queue.failures.name]]
    },
  ]
}

resource "aws_cloudwatch_dashboard" "pipeline" {
  dashboard_name = "${local.name}-pipeline"
  dashboard_body = jsonencode({
    widgets = [
      for i, graph in local.dashboard_graphs : {
        type   = "metric"
        x      = (i % 2) * 12
        y      = floor(i / 2) * 6
        width  = 12
        height = 6
        properties = {
          title   = graph.title
          region  = local.region
          stat    = graph.stat
          period  = 300
          view    = "timeSeries"
          metrics = graph.metrics
        }
      }
    ]
  })
}
