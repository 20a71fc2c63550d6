################################################################################
# The comparison of the source with the lake (issue 14; docs/ingestion.md, "The comparison")
#
# A second schedule of the ingestion function with input {"action": "compare"}: deletions
# and changes that keep last_updated reach the warehouse within one interval (SPEC §3
# "Fresh"). An alarm fires when no comparison completed within twice the interval (the
# ComparisonsCompleted metric the comparison emits). A held mass deletion or an unreadable
# table fails the invocation and reaches the existing error alarms.
################################################################################

variable "comparison_interval_minutes" {
  description = "Minutes between comparisons of the source with the lake (deletions and in-place changes are visible within this)."
  type        = number
  default     = 60

  validation {
    condition     = var.comparison_interval_minutes >= 5 && var.comparison_interval_minutes <= 720
    error_message = "comparison_interval_minutes must be from 5 to 720 (the stale alarm looks at two intervals, CloudWatch at most a day)."
  }
}

variable "comparison_schedule_enabled" {
  description = "Controls whether the comparison schedule is enabled."
  type        = bool
  default     = true
}

# The schedule itself is one of events.tf's schedules (key "compare").

resource "aws_cloudwatch_metric_alarm" "comparison_stale" {
  alarm_name          = "${local.name}-comparison-stale"
  alarm_description   = "No comparison of the source with the lake completed within twice its interval: deletions and in-place changes are not reaching the warehouse. See the ingestion logs ('table compared', MassDeletionHeldError)."
  namespace           = var.metrics_namespace
  metric_name         = "ComparisonsCompleted"
  dimensions          = { service = "ingestion" }
  statistic           = "Sum"
  period              = var.comparison_interval_minutes * 60
  evaluation_periods  = 2
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

output "comparison_schedule_name" {
  description = "EventBridge Scheduler schedule that runs the comparison of the source with the lake."
  value       = aws_scheduler_schedule.pipeline["compare"].name
}
