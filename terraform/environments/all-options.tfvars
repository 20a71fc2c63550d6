# Not an environment: every optional resource switched on (functions in a VPC with
# their security group and endpoints, the RDS warehouse), so that `make security`
# scans them too; with the defaults checkov would not see their settings. The ids
# are placeholders (checkov only reads the configuration).
environment          = "checkov"
vpc_subnet_ids       = ["subnet-0aaaaaaaaaaaaaaaa", "subnet-0bbbbbbbbbbbbbbbb"]
database_cidr_blocks = ["203.0.113.10/32"]
create_vpc_endpoints = true
create_warehouse     = true
