"""The lake as tables in the shared deployment (conftest's one apply): the Glue catalogue as
ops.lake_catalog derives it, the Athena workgroup's enforced and encrypted results, the
analyst policy's least privilege."""

from __future__ import annotations

import base64
import json
from typing import Any

from ops.lake_catalog import catalog

Deployed = Any  # conftest.Deployed (conftest modules are not importable)


def _tables(deployed: Deployed) -> dict[str, dict[str, Any]]:
    glue = deployed.client("glue")
    pages = glue.get_paginator("get_tables").paginate(DatabaseName=deployed.outputs["lake_database"])
    return {t["Name"]: t for page in pages for t in page["TableList"]}


def test_glue_tables_and_views_are_the_derived_catalogue(deployed: Deployed) -> None:
    expected, tables = catalog(), _tables(deployed)
    assert set(tables) == set(expected["tables"]) | set(expected["views"])
    processed = deployed.outputs["processed_bucket_name"]
    fact = tables["objects_fact_sales_order"]
    assert fact["StorageDescriptor"]["Location"] == f"s3://{processed}/tables/fact_sales_order/"
    assert fact["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"].endswith("ParquetHiveSerDe")
    assert [(c["Name"], c["Type"]) for c in fact["StorageDescriptor"]["Columns"]] == [
        (c["name"], c["type"]) for c in expected["tables"]["objects_fact_sales_order"]["columns"]
    ]
    assert "PartitionKeys" not in fact or not fact["PartitionKeys"]  # no partitions: nothing for a crawler to add
    view = tables["fact_sales_order_current"]
    assert view["TableType"] == "VIRTUAL_VIEW"
    encoded = view["ViewOriginalText"].removeprefix("/* Presto View: ").removesuffix(" */")
    presto = json.loads(base64.b64decode(encoded))
    assert presto["originalSql"] == expected["views"]["fact_sales_order_current"]["sql"]
    assert presto["schema"] == deployed.outputs["lake_database"]


def test_athena_workgroup_enforces_encrypted_results_in_their_own_bucket(deployed: Deployed) -> None:
    group = deployed.client("athena").get_work_group(WorkGroup=deployed.outputs["athena_workgroup"])["WorkGroup"]
    config = group["Configuration"]
    assert config["EnforceWorkGroupConfiguration"] is True
    results = deployed.outputs["athena_results_bucket_name"]
    assert config["ResultConfiguration"]["OutputLocation"] == f"s3://{results}/results/"
    assert config["ResultConfiguration"]["EncryptionConfiguration"]["EncryptionOption"] == "SSE_S3"
    s3 = deployed.client("s3")
    rules = s3.get_bucket_encryption(Bucket=results)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert all(s3.get_public_access_block(Bucket=results)["PublicAccessBlockConfiguration"].values())
    assert results not in {deployed.outputs[k] for k in ("ingest_bucket_name", "processed_bucket_name")}


def test_analyst_policy_reads_the_lake_tables_and_queries_through_the_workgroup_only(deployed: Deployed) -> None:
    iam, out = deployed.client("iam"), deployed.outputs
    policy = iam.get_policy(PolicyArn=out["analyst_policy_arn"])["Policy"]
    document = iam.get_policy_version(PolicyArn=policy["Arn"], VersionId=policy["DefaultVersionId"])["PolicyVersion"]
    document = document["Document"]
    statements = json.loads(document) if isinstance(document, str) else document
    grants = {
        (action, resource)
        for s in statements["Statement"]
        for action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
        for resource in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])
    }
    assert all(resource != "*" for _action, resource in grants)
    processed = f"arn:aws:s3:::{out['processed_bucket_name']}"
    reads = {r for a, r in grants if a == "s3:GetObject" and r.startswith(processed)}
    assert reads == {f"{processed}/tables/{name}/*" for name in _contract_tables()} | {f"{processed}/runs/*"}
    assert not {a for a, r in grants if r.startswith(processed) and a.startswith("s3:Put")}, "read-only on the lake"
    athena = {r for a, r in grants if a.startswith("athena:")}
    assert len(athena) == 1
    assert athena.pop().endswith(f":workgroup/{out['athena_workgroup']}")
    writes = {r for a, r in grants if a == "s3:PutObject"}
    assert writes == {f"arn:aws:s3:::{out['athena_results_bucket_name']}/results/*"}


def _contract_tables() -> list[str]:
    return [t["prefix"].split("/")[1] for name, t in catalog()["tables"].items() if name.startswith("objects_")]
