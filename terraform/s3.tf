# Three buckets: ingest (the JSONL lake), processed (Parquet) and artifacts
# (Lambda zips). Each concern is its own resource, as in terraform-aws-s3-bucket.

resource "aws_s3_bucket" "pipeline" {
  #checkov:skip=CKV_AWS_18:Server access logs would need a fourth, log-only bucket; CloudTrail data events are the audit trail for these buckets.
  #checkov:skip=CKV_AWS_144:Cross-region replication is a disaster-recovery decision the project has not taken; versioning protects against deletes.
  #checkov:skip=CKV_AWS_145:SSE-S3 (AES256) is used on purpose: SSE-KMS would add kms:Decrypt/GenerateDataKey to every role for no gain in this threat model.
  #checkov:skip=CKV2_AWS_62:Only the ingest and processed buckets need event notifications (runs/*.json); artifacts are read by Lambda at deploy time only.
  for_each = local.bucket_names

  bucket        = each.value
  force_destroy = var.force_destroy_buckets

  tags = {
    Name    = each.value
    Purpose = each.key
  }
}

resource "aws_s3_bucket_versioning" "pipeline" {
  for_each = aws_s3_bucket.pipeline

  bucket = each.value.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "pipeline" {
  for_each = aws_s3_bucket.pipeline

  bucket = each.value.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_public_access_block" "pipeline" {
  for_each = aws_s3_bucket.pipeline

  bucket                  = each.value.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "pipeline" {
  for_each = aws_s3_bucket.pipeline

  bucket = each.value.id

  rule {
    # ACLs disabled: access is governed by IAM and the bucket policy only.
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "pipeline" {
  for_each = aws_s3_bucket.pipeline

  bucket = each.value.id

  rule {
    id     = "expire-noncurrent-versions"
    status = "Enabled"

    filter {}

    # The lake never overwrites (If-None-Match: *), so noncurrent versions only
    # appear after a delete or a redeployed zip; keep them long enough to recover.
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }

    expiration {
      expired_object_delete_marker = true
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

  # Lifecycle rules apply to the versioned bucket.
  depends_on = [aws_s3_bucket_versioning.pipeline]
}

data "aws_iam_policy_document" "bucket_tls_only" {
  for_each = var.deny_insecure_transport ? aws_s3_bucket.pipeline : {}

  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      each.value.arn,
      "${each.value.arn}/*",
    ]

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

resource "aws_s3_bucket_policy" "pipeline" {
  for_each = var.deny_insecure_transport ? aws_s3_bucket.pipeline : {}

  bucket = each.value.id
  policy = data.aws_iam_policy_document.bucket_tls_only[each.key].json

  # A bucket policy is rejected while Block Public Access is being applied.
  depends_on = [aws_s3_bucket_public_access_block.pipeline]
}
