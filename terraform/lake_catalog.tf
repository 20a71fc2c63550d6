# The lake as tables (issue 16): a Glue database over the processed bucket, an Athena
# workgroup whose results are encrypted in their own bucket, and a least-privilege
# analyst policy. The tables and views come from lake_catalog.json, which
# `python -m ops.lake_catalog` derives from the warehouse contract (common.warehouse_tables
# and lake.views); a unit test fails when it is stale, so no schema is written twice.
# No partitions and no crawler: each table is every object under tables/<table>/, and the
# <table>_committed views keep only the attempt a commit record (runs/) names.

locals {
  lake_catalog  = jsondecode(file("${path.module}/lake_catalog.json"))
  lake_database = replace("${local.name}_lake", "-", "_") # Glue/Athena names: no hyphens
  lake_location = "s3://${aws_s3_bucket.pipeline["processed"].bucket}"

  lake_formats = {
    parquet = {
      input  = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
      output = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
      serde  = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    }
    # The commit records are pretty-printed JSON, which the Ion SerDe reads (the JSON SerDes need one line).
    ion = {
      input  = "com.amazon.ionhiveserde.formats.IonInputFormat"
      output = "com.amazon.ionhiveserde.formats.IonOutputFormat"
      serde  = "com.amazon.ionhiveserde.IonHiveSerDe"
    }
  }

  athena_results_bucket = "${local.name}-athena-results-${local.account_id}"
}

resource "aws_glue_catalog_database" "lake" {
  name        = local.lake_database
  description = "The processed bucket as tables: facts with every version, dimensions latest (docs/architecture.md)."
}

resource "aws_glue_catalog_table" "lake" {
  for_each = local.lake_catalog.tables

  name          = each.key
  database_name = aws_glue_catalog_database.lake.name
  table_type    = "EXTERNAL_TABLE"
  parameters = {
    EXTERNAL       = "TRUE"
    classification = each.value.format
  }

  storage_descriptor {
    location      = "${local.lake_location}/${each.value.prefix}"
    input_format  = local.lake_formats[each.value.format].input
    output_format = local.lake_formats[each.value.format].output

    ser_de_info {
      serialization_library = local.lake_formats[each.value.format].serde
    }

    dynamic "columns" {
      for_each = each.value.columns
      content {
        name = columns.value.name
        type = columns.value.type
      }
    }
  }
}

# Athena views are Glue tables holding a Presto view definition (base64 JSON in a comment).
resource "aws_glue_catalog_table" "lake_view" {
  for_each = local.lake_catalog.views

  name          = each.key
  database_name = aws_glue_catalog_database.lake.name
  table_type    = "VIRTUAL_VIEW"
  parameters = {
    presto_view = "true"
    comment     = "Presto View"
  }
  view_expanded_text = "/* Presto View */"
  view_original_text = "/* Presto View: ${base64encode(jsonencode({
    originalSql = each.value.sql
    catalog     = "awsdatacatalog"
    schema      = aws_glue_catalog_database.lake.name
    columns     = [for c in each.value.columns : { name = c.name, type = c.presto_type }]
  }))} */"

  storage_descriptor {
    dynamic "columns" {
      for_each = each.value.columns
      content {
        name = columns.value.name
        type = columns.value.type
      }
    }
  }

  depends_on = [aws_glue_catalog_table.lake]
}

# -- query results: their own bucket, encrypted, private, expiring -------------------------

resource "aws_s3_bucket" "athena_results" {
  #checkov:skip=CKV_AWS_18:Server access logs would need a log-only bucket; query results are transient (expired by the lifecycle rule).
  #checkov:skip=CKV_AWS_144:Query results are re-creatable by running the query again; no replica is needed.
  #checkov:skip=CKV_AWS_145:SSE-S3 (AES256), as the other buckets (s3.tf): SSE-KMS would add kms:* to every analyst for no gain here.
  #checkov:skip=CKV2_AWS_62:Nothing reacts to a query result.
  bucket        = local.athena_results_bucket
  force_destroy = var.force_destroy_buckets

  tags = {
    Name    = local.athena_results_bucket
    Purpose = "athena-results"
  }
}

resource "aws_s3_bucket_versioning" "athena_results" {
  bucket = aws_s3_bucket.athena_results.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "athena_results" {
  bucket = aws_s3_bucket.athena_results.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_public_access_block" "athena_results" {
  bucket                  = aws_s3_bucket.athena_results.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "athena_results" {
  bucket = aws_s3_bucket.athena_results.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "athena_results" {
  bucket = aws_s3_bucket.athena_results.id

  rule {
    id     = "expire-query-results"
    status = "Enabled"

    filter {}

    expiration {
      days = var.athena_results_expiration_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 1
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.athena_results]
}

resource "aws_athena_workgroup" "lake" {
  name          = "${local.name}-lake"
  description   = "Queries of the lake (Glue database ${local.lake_database}); settings enforced on every query."
  force_destroy = var.force_destroy_buckets

  configuration {
    enforce_workgroup_configuration    = true
    publish_cloudwatch_metrics_enabled = true
    bytes_scanned_cutoff_per_query     = var.athena_bytes_scanned_cutoff

    result_configuration {
      output_location = "s3://${aws_s3_bucket.athena_results.bucket}/results/"

      encryption_configuration {
        encryption_option = "SSE_S3"
      }
    }
  }
}

# -- the analyst: read the lake's tables and commit records, query through the workgroup only --

data "aws_iam_policy_document" "analyst" {
  statement {
    sid = "QueryThroughTheWorkgroup"
    actions = [
      "athena:GetQueryExecution",
      "athena:GetQueryResults",
      "athena:GetQueryResultsStream",
      "athena:GetWorkGroup",
      "athena:ListQueryExecutions",
      "athena:StartQueryExecution",
      "athena:StopQueryExecution",
    ]
    resources = [aws_athena_workgroup.lake.arn]
  }

  statement {
    sid     = "ReadTheCatalogue"
    actions = ["glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:GetPartition", "glue:GetPartitions"]
    resources = [
      "arn:${local.partition}:glue:${local.region}:${local.account_id}:catalog",
      aws_glue_catalog_database.lake.arn,
      "arn:${local.partition}:glue:${local.region}:${local.account_id}:table/${local.lake_database}/*",
    ]
  }

  statement {
    sid       = "ReadTheLakeTables"
    actions   = ["s3:GetObject"]
    resources = [for prefix in distinct([for t in local.lake_catalog.tables : t.prefix]) : "${aws_s3_bucket.pipeline["processed"].arn}/${prefix}*"]
  }

  statement {
    sid       = "ListTheLakeTables"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.pipeline["processed"].arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = [for prefix in distinct([for t in local.lake_catalog.tables : t.prefix]) : "${prefix}*"]
    }
  }

  statement {
    sid       = "LocateTheBuckets"
    actions   = ["s3:GetBucketLocation"]
    resources = [aws_s3_bucket.pipeline["processed"].arn, aws_s3_bucket.athena_results.arn]
  }

  statement {
    sid       = "WriteAndReadQueryResults"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
    resources = ["${aws_s3_bucket.athena_results.arn}/results/*"]
  }

  statement {
    sid       = "ListQueryResults"
    actions   = ["s3:ListBucket", "s3:ListBucketMultipartUploads"]
    resources = [aws_s3_bucket.athena_results.arn]
  }
}

resource "aws_iam_policy" "analyst" {
  name        = "${local.name}-lake-analyst"
  description = "Query the lake with Athena (workgroup ${aws_athena_workgroup.lake.name}): read-only on the processed bucket's tables."
  policy      = data.aws_iam_policy_document.analyst.json
}
