"""Broken contracts fail the invocation and commit nothing; a retry after the fix succeeds."""

from __future__ import annotations

import pytest

from lake.errors import ManifestError
from lake.keys import run_key
from transform.errors import IngestObjectMissingError
from transform.handler import lambda_handler


def test_manifest_naming_a_missing_object_fails_and_commits_nothing(lake, pipeline) -> None:
    manifest = lake.commit_ingest(1, lake.base_rows())
    doc = dict(manifest)
    doc["run_seq"] = 2
    doc["tables"] = {**manifest["tables"], "design": {**manifest["tables"]["design"], "key": "data/design/nope.gz"}}
    lake.ingest.put_new_json(run_key(2), doc)

    with pytest.raises(IngestObjectMissingError, match="nope"):
        lambda_handler({}, None)

    assert lake.processed.exists(run_key(1))  # run 1 committed before run 2 failed
    assert not lake.processed.exists(run_key(2))


def test_manifest_breaking_the_contract_is_a_manifest_error(lake, pipeline, emitted_metrics) -> None:
    lake.ingest.put_new_json(run_key(1), {"format": 1, "run_seq": 7, "tables": {}})

    with pytest.raises(ManifestError, match="does not match its key"):
        lambda_handler({}, None)

    assert list(lake.processed.list_keys("runs/")) == []
    (emf,) = emitted_metrics()  # failed before its first metric, yet counted
    assert (emf["InvocationsFailed"], emf["failure_kind"]) == ([1.0], "fatal")


def test_a_dimension_failure_while_the_first_fact_is_read_early_commits_nothing(lake, pipeline) -> None:
    # The first fact object starts streaming before the dimensions are read; a failure
    # there must still fail the run cleanly (the early reader is stopped, not leaked).
    rows = lake.base_rows()
    rows["sales_order"] = [lake.row("sales_order", i) for i in range(1, 200)]
    manifest = lake.commit_ingest(1, rows)
    doc = {**manifest, "tables": {**manifest["tables"]}}
    doc["tables"]["design"] = {**manifest["tables"]["design"], "key": "data/design/missing.gz"}
    doc["run_seq"] = 2
    lake.ingest.put_new_json(run_key(2), doc)

    with pytest.raises(IngestObjectMissingError, match="missing"):
        lambda_handler({}, None)

    assert lake.processed.exists(run_key(1))
    assert not lake.processed.exists(run_key(2))
