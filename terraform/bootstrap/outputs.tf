output "state_bucket_name" {
  description = "The Terraform state bucket: put it in terraform/environments/<env>.s3.tfbackend (bucket = ...) or TF_STATE_BUCKET."
  value       = aws_s3_bucket.state.id
}

output "state_bucket_arn" {
  description = "ARN of the Terraform state bucket (for the CI deploy role's policy)."
  value       = aws_s3_bucket.state.arn
}
