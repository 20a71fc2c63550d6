"""The ingestion stage: incremental, crash-safe extraction of the totesys tables to the
ingest bucket (docs/ingestion.md, docs/architecture.md).

Public API: ``ingestion.handler.lambda_handler`` (the Lambda entry point) and
``ingestion.run.run_ingestion`` (the work, with injected clients).
"""
