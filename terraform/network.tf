# Optional network placement (docs/operations.md, Network placement). With
# vpc_subnet_ids set, the functions run in those (private) subnets behind a
# security group that opens nothing inbound and lets out only HTTPS and the
# databases' port. create_vpc_endpoints adds the endpoints for every AWS API the
# functions call, so no NAT gateway is needed for them; reaching a totesys outside
# the VPC still needs a route (NAT gateway, peering, VPN) to database_cidr_blocks.

locals {
  in_vpc               = length(var.vpc_subnet_ids) > 0
  create_functions_sg  = local.in_vpc && var.create_vpc_security_group
  create_vpc_endpoints = local.in_vpc && var.create_vpc_endpoints

  function_security_group_ids = concat(var.vpc_security_group_ids, aws_security_group.functions[*].id)

  # What the stages call from inside the VPC (docs/architecture.md): S3 (gateway
  # endpoint, below), SSM (ingestion state), Secrets Manager (credentials), Lambda
  # (load invokes itself for the summaries' fold), and CloudWatch Logs and
  # Monitoring for the operators' tools run from the VPC (the functions' own logs
  # and EMF metrics are shipped by Lambda, outside the VPC).
  interface_endpoint_services = local.create_vpc_endpoints ? toset(["ssm", "secretsmanager", "lambda", "logs", "monitoring"]) : toset([])
}

data "aws_subnet" "function" {
  count = local.in_vpc ? 1 : 0

  id = var.vpc_subnet_ids[0]
}

data "aws_vpc" "function" {
  count = local.in_vpc ? 1 : 0

  id = data.aws_subnet.function[0].vpc_id
}

locals {
  vpc_id         = one(data.aws_vpc.function[*].id)
  vpc_cidr_block = one(data.aws_vpc.function[*].cidr_block)
}

################################################################################
# The functions' security group: no ingress, egress 443 and database_port only
################################################################################

resource "aws_security_group" "functions" {
  #checkov:skip=CKV2_AWS_5:Attached to the functions through local.function_security_group_ids (vpc_config in lambda.tf), which the graph check does not follow.
  count = local.create_functions_sg ? 1 : 0

  name        = "${local.name}-functions"
  description = "Pipeline functions: no inbound; outbound HTTPS and the databases' port only."
  vpc_id      = local.vpc_id

  # Rules are separate resources (aws_vpc_security_group_*_rule); Terraform removes
  # the default allow-all egress rule AWS adds to a new group.
  tags = {
    Name = "${local.name}-functions"
  }
}

# Without endpoints, AWS APIs are reached through the VPC's NAT on their public
# addresses, so HTTPS may go anywhere (still only port 443).
resource "aws_vpc_security_group_egress_rule" "functions_https_anywhere" {
  count = local.create_functions_sg && !local.create_vpc_endpoints ? 1 : 0

  security_group_id = aws_security_group.functions[0].id
  description       = "HTTPS to the AWS APIs (S3, SSM, Secrets Manager, Lambda) through the VPC's NAT."
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "functions_https_endpoints" {
  count = local.create_functions_sg && local.create_vpc_endpoints ? 1 : 0

  security_group_id = aws_security_group.functions[0].id
  description       = "HTTPS to the interface endpoints in the VPC."
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = local.vpc_cidr_block
}

resource "aws_vpc_security_group_egress_rule" "functions_https_s3" {
  count = local.create_functions_sg && local.create_vpc_endpoints ? 1 : 0

  security_group_id = aws_security_group.functions[0].id
  description       = "HTTPS to S3 through the gateway endpoint."
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  prefix_list_id    = aws_vpc_endpoint.s3[0].prefix_list_id
}

resource "aws_vpc_security_group_egress_rule" "functions_database" {
  for_each = local.create_functions_sg ? toset(var.database_cidr_blocks) : toset([])

  security_group_id = aws_security_group.functions[0].id
  description       = "PostgreSQL (totesys, or a warehouse not created here)."
  ip_protocol       = "tcp"
  from_port         = var.database_port
  to_port           = var.database_port
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_egress_rule" "functions_warehouse" {
  count = local.create_functions_sg && var.create_warehouse ? 1 : 0

  security_group_id            = aws_security_group.functions[0].id
  description                  = "PostgreSQL of the warehouse created here."
  ip_protocol                  = "tcp"
  from_port                    = var.database_port
  to_port                      = var.database_port
  referenced_security_group_id = aws_security_group.warehouse[0].id
}

################################################################################
# VPC endpoints
################################################################################

data "aws_route_tables" "function_subnets" {
  count = local.create_vpc_endpoints && length(var.vpc_route_table_ids) == 0 ? 1 : 0

  vpc_id = local.vpc_id

  filter {
    name   = "association.subnet-id"
    values = var.vpc_subnet_ids
  }
}

locals {
  s3_endpoint_route_table_ids = length(var.vpc_route_table_ids) > 0 ? var.vpc_route_table_ids : flatten(data.aws_route_tables.function_subnets[*].ids)
}

resource "aws_vpc_endpoint" "s3" {
  count = local.create_vpc_endpoints ? 1 : 0

  vpc_id            = local.vpc_id
  service_name      = "com.amazonaws.${local.region}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = local.s3_endpoint_route_table_ids

  tags = {
    Name = "${local.name}-s3"
  }

  lifecycle {
    precondition {
      condition     = length(local.s3_endpoint_route_table_ids) > 0
      error_message = "No route table is explicitly associated with vpc_subnet_ids: set vpc_route_table_ids for the S3 gateway endpoint."
    }
  }
}

resource "aws_security_group" "vpc_endpoints" {
  count = local.create_vpc_endpoints ? 1 : 0

  name        = "${local.name}-vpc-endpoints"
  description = "Interface endpoints of the pipeline: HTTPS from inside the VPC only."
  vpc_id      = local.vpc_id

  tags = {
    Name = "${local.name}-vpc-endpoints"
  }
}

resource "aws_vpc_security_group_ingress_rule" "vpc_endpoints_https" {
  count = local.create_vpc_endpoints ? 1 : 0

  security_group_id = aws_security_group.vpc_endpoints[0].id
  description       = "HTTPS from the VPC (the functions' network interfaces)."
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = local.vpc_cidr_block
}

resource "aws_vpc_endpoint" "interface" {
  for_each = local.interface_endpoint_services

  vpc_id              = local.vpc_id
  service_name        = "com.amazonaws.${local.region}.${each.key}"
  vpc_endpoint_type   = "Interface"
  subnet_ids          = var.vpc_subnet_ids
  security_group_ids  = [aws_security_group.vpc_endpoints[0].id]
  private_dns_enabled = true

  tags = {
    Name = "${local.name}-${each.key}"
  }
}
