terraform {
  required_version = ">= 1.6"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }

  # The state bucket cannot hold its own creator's state before it exists: this
  # module keeps a local state (terraform/bootstrap/terraform.tfstate, git-ignored).
  # It holds no secrets; keep it with the operator or import the bucket again.
}

provider "aws" {
  region = var.aws_region

  default_tags {
    tags = {
      Project   = var.project
      ManagedBy = "terraform"
      Purpose   = "terraform-state"
    }
  }
}
