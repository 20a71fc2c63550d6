################################################################################
# Environment and naming
################################################################################

variable "project" {
  description = "Short project name; first part of every resource name (\"<project>-<environment>-...\")."
  type        = string
  default     = "totes"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}$", var.project))
    error_message = "project must be 2-16 lowercase letters, digits or hyphens (it is part of S3 bucket names)."
  }
}

variable "environment" {
  description = "Environment name (dev, prod, local, ...); second part of every resource name."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,9}$", var.environment))
    error_message = "environment must be 2-10 lowercase letters or digits."
  }
}

variable "aws_region" {
  description = "AWS region every resource of the environment lives in."
  type        = string
  default     = "eu-west-2"
}

variable "tags" {
  description = "Extra tags added to every resource (on top of Project, Environment and ManagedBy)."
  type        = map(string)
  default     = {}
}

################################################################################
# Buckets
################################################################################

variable "noncurrent_version_expiration_days" {
  description = "Days after which a noncurrent object version in the ingest, processed and artifacts buckets is deleted. The lake never overwrites, so noncurrent versions only come from deletes or old Lambda zips."
  type        = number
  default     = 90

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1
    error_message = "noncurrent_version_expiration_days must be at least 1."
  }
}

variable "deny_insecure_transport" {
  description = "Controls whether each bucket's policy denies requests not made over TLS (aws:SecureTransport = false). Only the local moto apply turns it off: moto is served over plain HTTP and enforces bucket policies."
  type        = bool
  default     = true
}

variable "force_destroy_buckets" {
  description = "Controls whether terraform destroy may delete buckets that still hold objects. Keep false for real environments (the lake is the pipeline's history)."
  type        = bool
  default     = false
}

################################################################################
# Functions
################################################################################

variable "lambda_build_dir" {
  description = "Folder holding ingestion.zip, transform.zip and load.zip (written by scripts/build_lambdas.py). Null means <repo>/build."
  type        = string
  default     = null
}

variable "aws_sdk_pandas_layer_arns" {
  description = "Layer ARNs attached to every function: the AWS SDK for pandas managed layer for python3.12 in this region (pandas, pyarrow, pg8000, awswrangler). Empty only where the layer does not exist (the local moto apply)."
  type        = list(string)

  validation {
    condition     = length(var.aws_sdk_pandas_layer_arns) <= 5
    error_message = "A Lambda function takes at most 5 layers."
  }
}

variable "function_settings" {
  description = "Memory (MB), timeout (seconds) and reserved concurrency (-1 = unreserved) per function. Keys: ingestion, transform, load."
  type = map(object({
    memory_size          = number
    timeout              = number
    reserved_concurrency = optional(number, -1)
  }))
  default = {
    ingestion = { memory_size = 512, timeout = 300 }
    transform = { memory_size = 2048, timeout = 600 }
    load      = { memory_size = 1024, timeout = 600 }
  }

  validation {
    condition     = toset(keys(var.function_settings)) == toset(["ingestion", "transform", "load"])
    error_message = "function_settings must have exactly the keys ingestion, transform and load."
  }

  validation {
    condition     = alltrue([for s in values(var.function_settings) : s.timeout >= 1 && s.timeout <= 900 && s.memory_size >= 128 && s.memory_size <= 10240])
    error_message = "timeout must be 1-900 seconds and memory_size 128-10240 MB."
  }
}

variable "source_tables" {
  description = "Optional comma-separated list of totesys tables to ingest (SOURCE_TABLES); empty means all eleven."
  type        = string
  default     = ""
}

variable "lookback_seconds" {
  description = "Ingestion look-back window for late-committing source transactions (LOOKBACK_SECONDS)."
  type        = number
  default     = 900
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of the pipeline's EMF metrics (POWERTOOLS_METRICS_NAMESPACE)."
  type        = string
  default     = "TotesPipeline"
}

################################################################################
# Triggers and asynchronous invocation
################################################################################

variable "ingestion_schedule_expression" {
  description = "EventBridge Scheduler expression for the ingestion run. Must stay well inside the 30-minute freshness target (SPEC §3)."
  type        = string
  default     = "rate(5 minutes)"
}

variable "ingestion_schedule_enabled" {
  description = "Controls whether the ingestion schedule is enabled (disable to pause the pipeline without destroying it)."
  type        = bool
  default     = true
}

variable "async_maximum_retry_attempts" {
  description = "How many times Lambda retries a failed asynchronous invocation (0-2) before sending it to the failure queue."
  type        = number
  default     = 2

  validation {
    condition     = var.async_maximum_retry_attempts >= 0 && var.async_maximum_retry_attempts <= 2
    error_message = "async_maximum_retry_attempts must be 0, 1 or 2."
  }
}

variable "async_maximum_event_age_seconds" {
  description = "Oldest age (seconds) of an asynchronous event Lambda still tries to process before sending it to the failure queue (60-21600)."
  type        = number
  default     = 3600

  validation {
    condition     = var.async_maximum_event_age_seconds >= 60 && var.async_maximum_event_age_seconds <= 21600
    error_message = "async_maximum_event_age_seconds must be between 60 and 21600."
  }
}

variable "failure_queue_retention_seconds" {
  description = "How long the failure queue keeps a failed event (seconds; max 14 days)."
  type        = number
  default     = 1209600
}

################################################################################
# Observability and alerting
################################################################################

variable "log_retention_days" {
  description = "Retention of each function's CloudWatch log group, in days."
  type        = number
  default     = 90
}

variable "alarm_email_addresses" {
  description = "Email addresses subscribed to the alarm topic (each must confirm the subscription email)."
  type        = list(string)
  default     = []
}

variable "freshness_target_minutes" {
  description = "Freshness target: the freshness alarm fires when load commits no run for this long (multiple of 5)."
  type        = number
  default     = 30

  validation {
    condition     = var.freshness_target_minutes >= 10 && var.freshness_target_minutes % 5 == 0
    error_message = "freshness_target_minutes must be a multiple of 5, at least 10."
  }
}

variable "duration_alarm_threshold_percent" {
  description = "A function's duration alarm fires when its p99 duration exceeds this percentage of its timeout."
  type        = number
  default     = 80
}
