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

variable "attach_aws_sdk_pandas_layer" {
  description = "Controls whether every function gets the AWS SDK for pandas managed layer (pandas, pyarrow, pg8000, awswrangler), its ARN read from the SSM public parameter AWS publishes for aws_sdk_pandas_version. Only the local moto apply turns it off: moto knows neither the layer nor the parameter."
  type        = bool
  default     = true
}

variable "aws_sdk_pandas_version" {
  description = "Version of the AWS SDK for pandas managed layer (its awswrangler version) the functions run with. Must equal the awswrangler pin of layer-requirements.txt, which the Python 3.12 runtime test installs (tests/unit/infra checks the two agree)."
  type        = string
  default     = "3.17.0"

  validation {
    condition     = can(regex("^[0-9]+[.][0-9]+[.][0-9]+$", var.aws_sdk_pandas_version))
    error_message = "aws_sdk_pandas_version must be a release number such as 3.16.1."
  }
}

variable "function_settings" {
  description = "Memory (MB), timeout (seconds), reserved concurrency (-1 = unreserved) and /tmp size (ephemeral_storage, MB) per function. Keys: ingestion, transform, load. Ingestion spools one table's gzipped snapshot on /tmp at a time: size its ephemeral_storage by the rule in docs/architecture.md (Limits of one invocation)."
  type = map(object({
    memory_size          = number
    timeout              = number
    reserved_concurrency = optional(number, -1)
    ephemeral_storage    = optional(number, 512)
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

  validation {
    condition     = alltrue([for s in values(var.function_settings) : s.ephemeral_storage >= 512 && s.ephemeral_storage <= 10240])
    error_message = "ephemeral_storage must be 512-10240 MB (Lambda's /tmp)."
  }
}

variable "source_tables" {
  description = "Optional comma-separated list of totesys tables to ingest (SOURCE_TABLES); empty means all eleven."
  type        = string
  default     = ""
}

variable "fx_rates_url_template" {
  description = "Exchange-rate API URL with {date} and {base} (FX_RATES_URL; https, keyless, currency-api format); empty turns the rates step off. Needs outbound HTTPS from the ingestion function (docs/operations.md)."
  type        = string
  default     = "https://cdn.jsdelivr.net/npm/@fawazahmed0/currency-api@{date}/v1/currencies/{base}.json"

  validation {
    condition     = var.fx_rates_url_template == "" || (startswith(var.fx_rates_url_template, "https://") && strcontains(var.fx_rates_url_template, "{date}") && strcontains(var.fx_rates_url_template, "{base}"))
    error_message = "fx_rates_url_template must be empty or an https:// URL containing {date} and {base}."
  }
}

variable "lookback_seconds" {
  description = "Ingestion look-back window for late-committing source transactions (LOOKBACK_SECONDS)."
  type        = number
  default     = 900
}

variable "snapshot_rows_per_run" {
  description = "At most this many rows of first snapshots per ingestion run (SNAPSHOT_ROWS_PER_RUN): a bigger table's first snapshot is taken in key ranges over several runs. The default fits every stage in half its timeout at the default memory sizes (docs/architecture.md, Limits of one invocation); scale it with the memory of the smallest stage."
  type        = number
  default     = 4000000

  validation {
    condition     = var.snapshot_rows_per_run >= 1 && var.snapshot_rows_per_run <= 1000000000 && floor(var.snapshot_rows_per_run) == var.snapshot_rows_per_run
    error_message = "snapshot_rows_per_run must be a whole number from 1 to 1000000000."
  }
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

################################################################################
# Network placement (optional)
################################################################################

variable "vpc_subnet_ids" {
  description = "Private subnets the functions run in (one per Availability Zone, at least two for availability). Empty: the functions run outside any VPC and reach the databases over TLS on their public endpoints."
  type        = list(string)
  default     = []
}

variable "vpc_security_group_ids" {
  description = "Existing security groups attached to the functions when they run in the VPC, on top of the one create_vpc_security_group creates."
  type        = list(string)
  default     = []
}

variable "create_vpc_security_group" {
  description = "Controls whether a security group is created for the functions when they run in the VPC: no ingress; egress only on 443 (AWS APIs) and on database_port (the databases)."
  type        = bool
  default     = true
}

variable "database_port" {
  description = "TCP port of both databases (totesys and the warehouse); the only egress port besides 443 in the functions' security group."
  type        = number
  default     = 5432
}

variable "database_cidr_blocks" {
  description = "IPv4 CIDR blocks the functions may reach on database_port: where totesys (and a warehouse not created here) listen. A warehouse created by create_warehouse is allowed by security group, not by CIDR."
  type        = list(string)
  default     = []
}

variable "create_vpc_endpoints" {
  description = "Controls whether VPC endpoints are created for what the functions call (S3 gateway; SSM, Secrets Manager, CloudWatch Logs and Monitoring interface endpoints with private DNS), so they need no NAT gateway for AWS APIs. The functions' 443 egress is then limited to the VPC and the S3 prefix list."
  type        = bool
  default     = false
}

variable "vpc_route_table_ids" {
  description = "Route tables the S3 gateway endpoint is added to. Empty: the route tables explicitly associated with vpc_subnet_ids."
  type        = list(string)
  default     = []
}

################################################################################
# Warehouse (optional RDS for PostgreSQL)
################################################################################

variable "create_warehouse" {
  description = "Controls whether the warehouse database is created here: RDS for PostgreSQL in private subnets, encrypted, TLS forced, backed up, its master password managed by RDS in Secrets Manager. Needs vpc_subnet_ids (or warehouse_subnet_ids). False: bring your own PostgreSQL and put its loader credentials in the warehouse secret."
  type        = bool
  default     = false
}

variable "warehouse_subnet_ids" {
  description = "Private subnets (two or more Availability Zones) of the warehouse's DB subnet group. Empty: vpc_subnet_ids."
  type        = list(string)
  default     = []
}

variable "warehouse_engine_version" {
  description = "PostgreSQL major version of the warehouse (RDS picks its newest minor version and applies minor upgrades in the maintenance window)."
  type        = string
  default     = "18"

  validation {
    condition     = can(regex("^[0-9]+$", var.warehouse_engine_version))
    error_message = "warehouse_engine_version is a major version only, such as \"18\"."
  }
}

variable "warehouse_instance_class" {
  description = "RDS instance class of the warehouse."
  type        = string
  default     = "db.t4g.micro"
}

variable "warehouse_allocated_storage_gb" {
  description = "Initial gp3 storage of the warehouse (GiB); storage autoscaling may grow it up to warehouse_max_allocated_storage_gb."
  type        = number
  default     = 20
}

variable "warehouse_max_allocated_storage_gb" {
  description = "Upper bound of the warehouse's storage autoscaling (GiB)."
  type        = number
  default     = 100
}

variable "warehouse_database_name" {
  description = "Name of the warehouse database created in the instance."
  type        = string
  default     = "warehouse"
}

variable "warehouse_master_username" {
  description = "Master user of the warehouse instance (its password is generated and rotated by RDS in Secrets Manager). Used once to create the loader role (docs/operations.md), never by the pipeline."
  type        = string
  default     = "totes_admin"
}

variable "warehouse_backup_retention_days" {
  description = "Days of automated backups (point-in-time recovery) of the warehouse; 1-35."
  type        = number
  default     = 7

  validation {
    condition     = var.warehouse_backup_retention_days >= 1 && var.warehouse_backup_retention_days <= 35
    error_message = "warehouse_backup_retention_days must be 1-35 (0 would switch automated backups off)."
  }
}

variable "warehouse_multi_az" {
  description = "Controls whether the warehouse runs a synchronous standby in a second Availability Zone (doubles its instance and storage cost)."
  type        = bool
  default     = false
}

variable "warehouse_deletion_protection" {
  description = "Controls whether the warehouse instance refuses to be deleted. Null: on in prod, off elsewhere."
  type        = bool
  default     = null
}

variable "athena_results_expiration_days" {
  description = "Days an Athena query result is kept in the results bucket (re-run the query for an older one)."
  type        = number
  default     = 7

  validation {
    condition     = var.athena_results_expiration_days >= 1
    error_message = "athena_results_expiration_days must be at least 1."
  }
}

variable "athena_bytes_scanned_cutoff" {
  description = "The most bytes one Athena query of the lake may scan before it is cancelled (cost guard; minimum 10 MB)."
  type        = number
  default     = 10737418240 # 10 GiB

  validation {
    condition     = var.athena_bytes_scanned_cutoff >= 10485760
    error_message = "athena_bytes_scanned_cutoff must be at least 10485760 (10 MB), Athena's minimum."
  }
}
