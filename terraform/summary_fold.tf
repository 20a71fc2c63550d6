################################################################################
# The analytics summaries' fold (issue 15; docs/dashboard.md, "Upkeep")
#
# The fold is not part of a load: after a load invocation that committed a run, the
# load handler invokes its own function asynchronously with {"action": "fold_summaries"}
# (iam.tf: lambda:InvokeFunction on its own ARN only; network.tf: the lambda endpoint in
# a VPC). That request can be lost or fail (it never fails the load), and its async
# retries end in the failure queue (events.tf). This schedule is the backstop: every
# interval the same action folds whatever the summaries still lack, so they trail the
# facts by at most about one interval even when no further load comes. An alarm fires
# when no fold completed within twice the interval (the SummaryFoldsCompleted metric
# every successful fold action emits, also when nothing was pending).
################################################################################

variable "summary_fold_interval_minutes" {
  description = "Minutes between the scheduled folds of the analytics summaries (the backstop of the fold each committing load requests): the summaries trail the facts by at most about this when a request is lost."
  type        = number
  default     = 30

  validation {
    condition     = var.summary_fold_interval_minutes >= 5 && var.summary_fold_interval_minutes <= 720 && floor(var.summary_fold_interval_minutes) == var.summary_fold_interval_minutes
    error_message = "summary_fold_interval_minutes must be a whole number from 5 to 720 (the stale alarm looks at two intervals, CloudWatch at most a day)."
  }
}

# The schedule itself is one of events.tf's schedules (key "fold").

resource "aws_cloudwatch_metric_alarm" "summaries_stale" {
  alarm_name          = "${local.name}-summaries-stale"
  alarm_description   = "No fold of the analytics summaries completed within twice its interval: the dashboard's summaries trail the loaded facts (its Health page says by how much). See the load logs (action fold_summaries) and the failure queue."
  namespace           = var.metrics_namespace
  metric_name         = "SummaryFoldsCompleted"
  dimensions          = { service = "load" }
  statistic           = "Sum"
  period              = var.summary_fold_interval_minutes * 60
  evaluation_periods  = 2
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

output "summary_fold_schedule_name" {
  description = "EventBridge Scheduler schedule that folds the analytics summaries (the backstop of the fold each load requests)."
  value       = aws_scheduler_schedule.pipeline["fold"].name
}
