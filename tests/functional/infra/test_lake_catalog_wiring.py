"""The lake as tables in the shared deployment (conftest's one apply): the Glue catalogue as
ops.lake_catalog derives it, the Athena workgroup's enforced and encrypted results, the
analyst policy's least privilege, and `totes lake query --athena` asking through them."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import requests
from typer.testing import CliRunner

from cli.main import app
from local.moto_server import REGION
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


# -- `totes lake query --athena` (ops.lake_athena, awswrangler) ------------------------------------

SALES_BY_CURRENCY = (
    'SELECT c.currency_code, count(*) AS orders FROM "fact_sales_order_current" f'
    ' JOIN "dim_currency" c ON c.currency_id = f.currency_id GROUP BY 1 ORDER BY 1'
)


@pytest.fixture
def athena_cli(deployed: Deployed, tmp_path, monkeypatch) -> tuple[CliRunner, str]:
    """The CLI pointed at the deployment's moto as at an AWS account (boto3's environment), with
    its Terraform outputs file."""
    for name, value in {"AWS_ENDPOINT_URL": deployed.moto.endpoint, "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": REGION,
                        "AWS_DEFAULT_REGION": REGION}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({k: {"value": v} for k, v in deployed.outputs.items()}))
    return CliRunner(), str(path)


def test_totes_lake_query_athena_asks_the_lake_workgroup_about_the_lake_database(deployed: Deployed, athena_cli):
    """moto runs no SQL: Athena's answer is queued through moto's documented results API (the
    header row first, as Athena returns it); what is ours is checked: the query goes to the
    lake's workgroup with the lake's Glue database as its schema, results where the workgroup
    enforces them, and the answer printed."""
    cli, outputs = athena_cli
    header, row = ["currency_code", "orders"], ["GBP", "3"]
    queued = requests.post(
        f"{deployed.moto.endpoint}/moto-api/static/athena/query-results",
        json={"region": REGION, "results": [{
            "rows": [{"Data": [{"VarCharValue": v} for v in values]} for values in (header, row)],
            "column_info": [{"Name": "currency_code", "Type": "varchar"}, {"Name": "orders", "Type": "bigint"}],
        }]},
        timeout=10,
    )  # fmt: skip
    assert queued.status_code == 201

    result = cli.invoke(app, ["lake", "query", "--athena", "--csv", SALES_BY_CURRENCY, "--outputs", outputs])

    assert result.exit_code == 0, (result.output, result.exception)
    assert result.output.splitlines() == ["currency_code,orders", "GBP,3"]
    athena, group = deployed.client("athena"), deployed.outputs["athena_workgroup"]
    executions = athena.list_query_executions(WorkGroup=group)["QueryExecutionIds"]
    asked = [athena.get_query_execution(QueryExecutionId=e)["QueryExecution"] for e in executions]
    ours = [q for q in asked if q["Query"] == SALES_BY_CURRENCY]
    assert len(ours) == 1, asked
    assert ours[0]["WorkGroup"] == group
    assert ours[0]["QueryExecutionContext"]["Database"] == deployed.outputs["lake_database"]
    results = deployed.outputs["athena_results_bucket_name"]
    assert ours[0]["ResultConfiguration"]["OutputLocation"].startswith(f"s3://{results}/results/")


def test_totes_lake_query_athena_says_what_is_missing_from_an_older_deployments_outputs(athena_cli, tmp_path):
    """A deployment from before the lake catalogue has no workgroup to ask: a message, no
    traceback. (A workgroup Athena does not know cannot be shown here: moto answers
    GetWorkGroup for it without an error, unlike Athena's InvalidRequestException.)"""
    cli, outputs = athena_cli
    doc = json.loads(Path(outputs).read_text())
    del doc["athena_workgroup"]
    older = tmp_path / "older.json"
    older.write_text(json.dumps(doc))

    result = cli.invoke(app, ["lake", "query", "--athena", "SELECT 1", "--outputs", str(older)])

    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # a message, not a traceback
    said = " ".join(result.output.split())
    assert "--athena needs the outputs lake_database and athena_workgroup" in said, said
