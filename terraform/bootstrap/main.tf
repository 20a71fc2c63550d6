# The S3 bucket that holds every environment's Terraform state (one key per
# environment; S3-native locking with use_lockfile, so no DynamoDB table).
# Run once per account: scripts/terraform.sh bootstrap apply (docs/operations.md).

resource "aws_s3_bucket" "state" {
  #checkov:skip=CKV_AWS_18:Access logging for the state bucket would need another bucket; CloudTrail records who touched the state.
  #checkov:skip=CKV_AWS_144:Cross-region replication of the state is not needed: versioning keeps every earlier state.
  #checkov:skip=CKV_AWS_145:SSE-S3 (AES256) encrypts the state; SSE-KMS would add key management for every operator and CI role.
  #checkov:skip=CKV2_AWS_62:Nothing reacts to state changes; event notifications would have no consumer.
  bucket = var.state_bucket_name

  # Losing the state bucket loses track of every environment.
  lifecycle {
    prevent_destroy = true
  }
}

resource "aws_s3_bucket_versioning" "state" {
  bucket = aws_s3_bucket.state.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "state" {
  bucket = aws_s3_bucket.state.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_public_access_block" "state" {
  bucket                  = aws_s3_bucket.state.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "state" {
  bucket = aws_s3_bucket.state.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "state" {
  bucket = aws_s3_bucket.state.id

  rule {
    id     = "expire-old-state-versions"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }
  }

  rule {
    id     = "abort-incomplete-multipart-uploads"
    status = "Enabled"

    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.state]
}

data "aws_iam_policy_document" "state_tls_only" {
  count = var.deny_insecure_transport ? 1 : 0

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.state.arn, "${aws_s3_bucket.state.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "state" {
  count = var.deny_insecure_transport ? 1 : 0

  bucket = aws_s3_bucket.state.id
  policy = data.aws_iam_policy_document.state_tls_only[0].json

  depends_on = [aws_s3_bucket_public_access_block.state]
}
