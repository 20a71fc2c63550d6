variable "project" {
  description = "Short project name, used in tags."
  type        = string
  default     = "totes"
}

variable "aws_region" {
  description = "Region of the state bucket (the environments' backend configs must name the same region)."
  type        = string
  default     = "eu-west-2"
}

variable "state_bucket_name" {
  description = "Name of the Terraform state bucket; globally unique, e.g. \"totes-tfstate-<account id>\". Put the same name in terraform/environments/<env>.s3.tfbackend or TF_STATE_BUCKET."
  type        = string
}

variable "noncurrent_version_expiration_days" {
  description = "Days a superseded state version is kept (to roll back a bad apply)."
  type        = number
  default     = 365
}

variable "deny_insecure_transport" {
  description = "Controls whether the state bucket's policy denies requests not made over TLS. Only the rehearsal against moto (plain HTTP, bucket policies enforced) turns it off."
  type        = bool
  default     = true
}
