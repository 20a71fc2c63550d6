"""The transform stage: committed ingestion runs (JSONL) into the warehouse star schemas (Parquet).

Public API: ``transform.run.run_transform`` (the work) and
``transform.handler.lambda_handler`` (the Lambda entry point). docs/transform.md has
the rules; docs/architecture.md the bucket layouts and commit records.
"""
