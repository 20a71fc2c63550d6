"""The local runner follows the deployed wiring in moto: notification configuration ->
function -> Handler setting. The stage handlers here are tiny stand-ins written to a
temporary module (the real stages are exercised by the end-to-end test); what is under
test is the runner: which events it delivers, their payload, and when it stops."""

from __future__ import annotations

import io
import json
import textwrap
import uuid
import zipfile

import boto3
import pytest

from local.moto_server import REGION
from ops.runner import PipelineRunner

STAGES = """
import json, os
import boto3

CALLS = []


def _s3():
    return boto3.client("s3")


def ingest(event, context):
    CALLS.append(("ingest", event, context.function_name, context.get_remaining_time_in_millis()))
    s3, bucket = _s3(), os.environ["INGEST_BUCKET"]
    seq = 1 + sum(1 for _ in s3.list_objects_v2(Bucket=bucket, Prefix="runs/").get("Contents", []))
    s3.put_object(Bucket=bucket, Key=f"data/t/{seq:010d}-a.jsonl.gz", Body=b"x")
    s3.put_object(Bucket=bucket, Key=f"runs/{seq:010d}.json", Body=json.dumps({"run_seq": seq}).encode())
    print(json.dumps({"level": "INFO", "message": "ingested", "run_seq": seq}))
    return {"run_seq": seq}


def transform(event, context):
    CALLS.append(("transform", event, context.function_name, os.environ.get("STAGE_FLAG")))
    key = event["Records"][0]["s3"]["object"]["key"]
    _s3().put_object(Bucket=os.environ["PROCESSED_BUCKET"], Key=key, Body=b"{}")


def load(event, context):
    CALLS.append(("load", event, context.function_name, None))
    if os.environ.get("LOAD_FAILS"):
        raise RuntimeError("warehouse unreachable")
"""


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("stub.py", "def handler(e, c):\n    return None\n")
    return buf.getvalue()


@pytest.fixture
def wired(aws, stack, tmp_path, monkeypatch):
    module = f"fake_stages_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(STAGES))
    monkeypatch.syspath_prepend(str(tmp_path))
    prefix = f"r{uuid.uuid4().hex[:6]}"
    ingest, processed = f"{prefix}-ingest", f"{prefix}-processed"
    for bucket in (ingest, processed):
        aws.s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    monkeypatch.setenv("INGEST_BUCKET", ingest)
    monkeypatch.setenv("PROCESSED_BUCKET", processed)
    iam = boto3.client("iam", region_name=REGION, endpoint_url=stack.moto.endpoint)
    role = iam.create_role(RoleName=f"{prefix}-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    lam = boto3.client("lambda", region_name=REGION, endpoint_url=stack.moto.endpoint)
    arns = {}
    for stage in ("ingest", "transform", "load"):
        env = {"STAGE_FLAG": "from-function-config", "AWS_ENDPOINT_URL": "http://must-not-leak"}
        arns[stage] = lam.create_function(
            FunctionName=f"{prefix}-{stage}",
            Runtime="python3.11",
            Role=role,
            Handler=f"{module}.{stage}",
            Code={"ZipFile": _zip()},
            Timeout=120,
            Environment={"Variables": env},
        )["FunctionArn"]

    def notify(bucket, arn):
        rules = [{"Name": "prefix", "Value": "runs/"}, {"Name": "suffix", "Value": ".json"}]
        aws.s3.put_bucket_notification_configuration(
            Bucket=bucket,
            NotificationConfiguration={
                "LambdaFunctionConfigurations": [
                    {
                        "Id": "on-run",
                        "LambdaFunctionArn": arn,
                        "Events": ["s3:ObjectCreated:*"],
                        "Filter": {"Key": {"FilterRules": rules}},
                    }
                ]
            },
        )

    notify(ingest, arns["transform"])
    notify(processed, arns["load"])
    sqs = boto3.client("sqs", region_name=REGION, endpoint_url=stack.moto.endpoint)
    queue = sqs.create_queue(QueueName=f"{prefix}-failures")["QueueUrl"]
    runner = PipelineRunner(
        s3=aws.s3,
        lambda_client=lam,
        ingestion_function=f"{prefix}-ingest",
        buckets=[ingest, processed],
        region=REGION,
        sqs=sqs,
        failure_queue_url=queue,
        log_sink=io.StringIO(),
    )
    calls = __import__(module).CALLS
    return runner, calls, prefix, ingest, sqs, queue


def test_cycle_follows_the_notification_wiring_until_quiet(wired) -> None:
    runner, calls, prefix, ingest, _, _ = wired
    result = runner.run_cycle()
    assert result.ok
    assert [(i.function, i.trigger) for i in result.invocations] == [
        (f"{prefix}-ingest", "schedule"),
        (f"{prefix}-transform", f"s3://{ingest}/runs/0000000001.json"),
        (f"{prefix}-load", f"s3://{prefix}-processed/runs/0000000001.json"),
    ]
    assert [c[0] for c in calls] == ["ingest", "transform", "load"]
    assert calls[0][1]["detail-type"] == "Scheduled Event"
    assert 0 < calls[0][3] <= 120_000  # the context carries the function's timeout
    record = calls[1][1]["Records"][0]
    assert record["eventName"] == "ObjectCreated:Put"
    assert record["s3"]["bucket"]["name"] == ingest
    assert record["s3"]["object"]["key"] == "runs/0000000001.json"
    assert record["s3"]["object"]["size"] == len(json.dumps({"run_seq": 1}))
    assert record["s3"]["object"]["eTag"]
    assert '"' not in record["s3"]["object"]["eTag"]
    assert calls[1][3] == "from-function-config"  # the function's own environment applied
    assert "ingested" in runner.log_sink.getvalue()  # handler stdout went to the sink

    second = runner.run_cycle()  # only the new run is delivered, not the first one again
    assert [i.trigger for i in second.invocations][1:] == [
        f"s3://{ingest}/runs/0000000002.json",
        f"s3://{prefix}-processed/runs/0000000002.json",
    ]


def test_a_failing_handler_is_retried_then_dead_lettered(wired, monkeypatch) -> None:
    runner, calls, prefix, _, sqs, queue = wired
    monkeypatch.setenv("LOAD_FAILS", "1")
    result = runner.run_cycle()
    assert not result.ok
    (failure,) = result.failures
    assert failure.function == f"{prefix}-load"
    assert failure.attempts == 3
    assert failure.error == "RuntimeError: warehouse unreachable"
    assert [c[0] for c in calls].count("load") == 3
    (message,) = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    body = json.loads(message["Body"])
    assert body["requestContext"]["condition"] == "RetriesExhausted"
    assert body["requestPayload"]["Records"][0]["s3"]["object"]["key"] == "runs/0000000001.json"
