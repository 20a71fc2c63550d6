# Database credentials. Terraform creates the secrets but never a secret VERSION:
# no password ever enters code or Terraform state. Operators set the value out of
# band (docs/operations.md): JSON {"host", "port", "username", "password", "dbname"}.

resource "aws_secretsmanager_secret" "source_db" {
  #checkov:skip=CKV_AWS_149:The AWS-managed key (aws/secretsmanager) encrypts it; a CMK would add kms:Decrypt to the roles for no gain here.
  #checkov:skip=CKV2_AWS_57:The totesys credentials are issued by the source system's owners; rotation is theirs (docs/operations.md).
  name        = "${var.project}/${var.environment}/totesys-db"
  description = "Read-only credentials of the totesys source database (set out of band)."
  # A destroyed environment can be recreated under the same name at once in dev.
  recovery_window_in_days = var.environment == "prod" ? 30 : 0
}

resource "aws_secretsmanager_secret" "warehouse_db" {
  #checkov:skip=CKV_AWS_149:The AWS-managed key (aws/secretsmanager) encrypts it; a CMK would add kms:Decrypt to the roles for no gain here.
  #checkov:skip=CKV2_AWS_57:The warehouse credentials are rotated by its operators together with the database (docs/operations.md).
  name                    = "${var.project}/${var.environment}/warehouse-db"
  description             = "Credentials of the warehouse loader role (set out of band)."
  recovery_window_in_days = var.environment == "prod" ? 30 : 0
}
