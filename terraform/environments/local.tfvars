# The local stack: the same module applied to a moto server by
# src/local/terraform_local.py (`make tf-local`, `totes local terraform-apply`).
environment = "local"

# moto knows neither the AWS SDK for pandas managed layer nor the SSM public
# parameter that names it; locally the stages run in-process with the venv's
# packages, so the functions only need to exist.
attach_aws_sdk_pandas_layer = false

# Local buckets are throw-away: let destroy remove them with their objects.
force_destroy_buckets = true

log_retention_days    = 1
alarm_email_addresses = []

# moto speaks plain HTTP and enforces bucket policies: a TLS-only policy would
# deny every local request. Real environments keep the default (true).
deny_insecure_transport = false

# The local stack serves exchange rates itself (local.fx_server, started by run-local and
# the tests, which set FX_RATES_URL in the handlers' environment): never the internet.
fx_rates_url_template = ""
