# Optional warehouse (create_warehouse): RDS for PostgreSQL in private subnets of
# the functions' VPC. The master password is generated, stored and rotated by RDS
# in its own Secrets Manager secret (manage_master_user_password): it never enters
# Terraform's state, and the pipeline never uses it. The master only creates the
# loader role once (docs/operations.md, "The warehouse"); the load function logs in
# as that loader with the credentials of the warehouse secret (secrets.tf).

locals {
  warehouse_subnet_ids          = length(var.warehouse_subnet_ids) > 0 ? var.warehouse_subnet_ids : var.vpc_subnet_ids
  warehouse_deletion_protection = coalesce(var.warehouse_deletion_protection, var.environment == "prod")
}

resource "aws_db_subnet_group" "warehouse" {
  count = var.create_warehouse ? 1 : 0

  name        = "${local.name}-warehouse"
  description = "Private subnets of the ${local.name} warehouse."
  subnet_ids  = local.warehouse_subnet_ids

  lifecycle {
    precondition {
      condition     = local.in_vpc && length(local.warehouse_subnet_ids) >= 2
      error_message = "create_warehouse needs the functions in the VPC (vpc_subnet_ids) and at least two private subnets in different Availability Zones (warehouse_subnet_ids, or vpc_subnet_ids)."
    }
  }
}

resource "aws_db_parameter_group" "warehouse" {
  count = var.create_warehouse ? 1 : 0

  name        = "${local.name}-warehouse-pg${var.warehouse_engine_version}"
  family      = "postgres${var.warehouse_engine_version}"
  description = "${local.name} warehouse: TLS required, slow statements logged."

  # SPEC §3: every connection is encrypted; the server refuses any other.
  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  # Statements slower than a second reach the postgresql log (exported to
  # CloudWatch Logs), with no values: load binds them as parameters.
  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }

  parameter {
    name  = "log_statement"
    value = "ddl"
  }

  # A new family (major upgrade) needs a new group before the old one is dropped.
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_security_group" "warehouse" {
  count = var.create_warehouse ? 1 : 0

  name        = "${local.name}-warehouse"
  description = "The ${local.name} warehouse: PostgreSQL from the pipeline functions only; no outbound."
  vpc_id      = local.vpc_id

  tags = {
    Name = "${local.name}-warehouse"
  }
}

resource "aws_vpc_security_group_ingress_rule" "warehouse_from_functions" {
  count = var.create_warehouse ? length(local.function_security_group_ids) : 0

  security_group_id            = aws_security_group.warehouse[0].id
  description                  = "PostgreSQL from the pipeline functions."
  ip_protocol                  = "tcp"
  from_port                    = var.database_port
  to_port                      = var.database_port
  referenced_security_group_id = local.function_security_group_ids[count.index]
}

# Created before the instance so the exported logs get a retention (RDS would
# create the groups without one).
resource "aws_cloudwatch_log_group" "warehouse" {
  #checkov:skip=CKV_AWS_158:The postgresql log holds statements' text and timings, no values (load binds them) and no secrets; default encryption applies.
  #checkov:skip=CKV_AWS_338:Retention is a variable (log_retention_days) shared with the functions' logs.
  for_each = var.create_warehouse ? toset(["postgresql", "upgrade"]) : toset([])

  name              = "/aws/rds/instance/${local.name}-warehouse/${each.key}"
  retention_in_days = var.log_retention_days
}

resource "aws_db_instance" "warehouse" {
  #checkov:skip=CKV_AWS_118:Enhanced monitoring needs its own IAM role; the instance's CloudWatch metrics and exported logs cover a warehouse written once per run.
  #checkov:skip=CKV_AWS_157:Multi-AZ is a variable (warehouse_multi_az): it doubles the cost, and the warehouse can be rebuilt from the lake.
  #checkov:skip=CKV_AWS_161:The loader logs in with a password from Secrets Manager; IAM database authentication would be an unused second way in.
  #checkov:skip=CKV_AWS_293:Deletion protection is on in prod (warehouse_deletion_protection defaults to environment == "prod"); dev warehouses are throw-away.
  #checkov:skip=CKV_AWS_353:Performance Insights is not needed for one COPY-based load per run; slow statements go to the exported postgresql log.
  #checkov:skip=CKV_AWS_354:Performance Insights is not enabled (CKV_AWS_353).
  count = var.create_warehouse ? 1 : 0

  identifier     = "${local.name}-warehouse"
  engine         = "postgres"
  engine_version = var.warehouse_engine_version
  instance_class = var.warehouse_instance_class

  db_name                     = var.warehouse_database_name
  username                    = var.warehouse_master_username
  manage_master_user_password = true
  port                        = var.database_port

  allocated_storage     = var.warehouse_allocated_storage_gb
  max_allocated_storage = var.warehouse_max_allocated_storage_gb
  storage_type          = "gp3"
  storage_encrypted     = true

  db_subnet_group_name   = aws_db_subnet_group.warehouse[0].name
  vpc_security_group_ids = [aws_security_group.warehouse[0].id]
  publicly_accessible    = false
  # The CA the RDS bundle shipped in the zips verifies (verify-full, SPEC §3).
  ca_cert_identifier   = "rds-ca-rsa2048-g1"
  multi_az             = var.warehouse_multi_az
  parameter_group_name = aws_db_parameter_group.warehouse[0].name

  backup_retention_period         = var.warehouse_backup_retention_days
  copy_tags_to_snapshot           = true
  deletion_protection             = local.warehouse_deletion_protection
  skip_final_snapshot             = !local.warehouse_deletion_protection
  final_snapshot_identifier       = "${local.name}-warehouse-final"
  auto_minor_version_upgrade      = true
  allow_major_version_upgrade     = false
  enabled_cloudwatch_logs_exports = ["postgresql", "upgrade"]

  depends_on = [aws_cloudwatch_log_group.warehouse]
}
