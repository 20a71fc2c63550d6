terraform {
  required_version = ">= 1.6"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }

  # Partial configuration: bucket, key and region come per environment from
  # environments/<env>.s3.tfbackend (scripts/terraform.sh passes -backend-config).
  # use_lockfile = S3-native locking (a .tflock object next to the state), so no
  # DynamoDB lock table is needed (Terraform >= 1.10; see docs/operations.md).
  backend "s3" {
    use_lockfile = true
    encrypt      = true
  }
}

provider "aws" {
  region = var.aws_region

  default_tags {
    tags = local.tags
  }
}
