# Ingestion state (docs/architecture.md, Ingestion state). Terraform creates the
# parameters with their initial values and then never touches the value again:
# the pipeline owns it, and an apply must never rewind the watermarks or run seq.

resource "aws_ssm_parameter" "last_run_seq" {
  #checkov:skip=CKV_AWS_337:A KMS key only applies to SecureString; this String parameter holds no secret.
  #checkov:skip=CKV2_AWS_34:A run sequence number is not a secret; String keeps it readable in the console (SPEC §3: state is where it can be seen).
  name        = "${local.ssm_prefix}/ingestion/last_run_seq"
  description = "Last committed ingestion run sequence id (owned by the pipeline; Terraform only creates it)."
  type        = "String"
  value       = "0"

  lifecycle {
    ignore_changes = [value]
  }
}

resource "aws_ssm_parameter" "watermarks" {
  #checkov:skip=CKV_AWS_337:A KMS key only applies to SecureString; this String parameter holds no secret.
  #checkov:skip=CKV2_AWS_34:Watermarks are timestamps, not secrets; String keeps them readable in the console (SPEC §3: state is where it can be seen).
  name        = "${local.ssm_prefix}/ingestion/watermarks"
  description = "Per-table ingestion watermarks, JSON {table: timestamp} (owned by the pipeline; Terraform only creates it)."
  type        = "String"
  value       = "{}"

  lifecycle {
    ignore_changes = [value]
  }
}

resource "aws_ssm_parameter" "snapshot_cursors" {
  #checkov:skip=CKV_AWS_337:A KMS key only applies to SecureString; this String parameter holds no secret.
  #checkov:skip=CKV2_AWS_34:Cursors are primary keys and timestamps, not secrets; String keeps them readable in the console (SPEC §3: state is where it can be seen).
  # Declared here although only a first snapshot in key ranges writes it: a parameter the
  # pipeline created on its own would outlive `terraform destroy`.
  name        = "${local.ssm_prefix}/ingestion/snapshot_cursors"
  description = "First snapshots under way in key ranges, JSON {table: cursor} (a mirror of the newest manifest's; owned by the pipeline; Terraform only creates it)."
  type        = "String"
  value       = "{}"

  lifecycle {
    ignore_changes = [value]
  }
}
