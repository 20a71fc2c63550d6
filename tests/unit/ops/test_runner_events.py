"""Pure parts of the local runner: S3 event payloads and notification matching."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ops.runner import LambdaContext, RunnerError, load_handler, matching_functions, s3_event

NOTIFICATION = {
    "LambdaFunctionConfigurations": [
        {
            "Id": "transform-on-manifest",
            "LambdaFunctionArn": "arn:aws:lambda:eu-west-2:123456789012:function:totes-transform",
            "Events": ["s3:ObjectCreated:*"],
            "Filter": {
                "Key": {"FilterRules": [{"Name": "Prefix", "Value": "runs/"}, {"Name": "Suffix", "Value": ".json"}]}
            },
        },
        {
            "Id": "only-deletes",
            "LambdaFunctionArn": "arn:aws:lambda:eu-west-2:123456789012:function:other",
            "Events": ["s3:ObjectRemoved:*"],
        },
    ]
}


def test_only_keys_matching_prefix_suffix_and_event_trigger() -> None:
    arn = "arn:aws:lambda:eu-west-2:123456789012:function:totes-transform"
    assert matching_functions(NOTIFICATION, "runs/0000000001.json") == [(arn, "transform-on-manifest")]
    assert matching_functions(NOTIFICATION, "data/sales_order/2024-01-01/0000000001-abc.jsonl.gz") == []
    assert matching_functions(NOTIFICATION, "runs/0000000001.json.tmp") == []
    assert matching_functions({}, "runs/0000000001.json") == []


def test_exact_event_name_and_no_filter_match() -> None:
    config = {"LambdaFunctionConfigurations": [{"LambdaFunctionArn": "f", "Events": ["s3:ObjectCreated:Put"]}]}
    assert matching_functions(config, "anything") == [("f", "")]
    assert matching_functions(config, "anything", event_name="ObjectCreated:Copy") == []


def test_s3_event_has_the_documented_shape() -> None:
    event = s3_event(
        bucket="b",
        key="runs/a b.json",
        size=12,
        etag="abc",
        sequencer="0000000000000001",
        region="eu-west-2",
        configuration_id="cfg",
        event_time=datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
    )
    (record,) = event["Records"]
    assert record["eventVersion"] == "2.1"
    assert record["eventSource"] == "aws:s3"
    assert record["awsRegion"] == "eu-west-2"
    assert record["eventTime"] == "2026-01-02T03:04:05.678Z"
    assert record["eventName"] == "ObjectCreated:Put"
    assert record["s3"]["bucket"] == {"name": "b", "ownerIdentity": {"principalId": "LOCAL"}, "arn": "arn:aws:s3:::b"}
    obj = {"key": "runs/a+b.json", "size": 12, "eTag": "abc", "sequencer": "0000000000000001"}
    assert record["s3"]["object"] == obj
    assert record["s3"]["configurationId"] == "cfg"


def test_context_counts_down_from_the_timeout() -> None:
    ctx = LambdaContext("f", "arn:f", timeout_seconds=60)
    assert 0 < ctx.get_remaining_time_in_millis() <= 60_000
    assert ctx.log_group_name == "/aws/lambda/f"
    assert ctx.aws_request_id != LambdaContext("f", "arn:f").aws_request_id


def test_handler_spec_is_resolved_or_rejected() -> None:
    assert load_handler("json.dumps")({"a": 1}) == '{"a": 1}'
    with pytest.raises(RunnerError, match=r"module\.function"):
        load_handler("lambda_handler")
    with pytest.raises(RunnerError, match="cannot be imported"):
        load_handler("no_such_module_xyz.lambda_handler")
    with pytest.raises(RunnerError, match="no callable"):
        load_handler("json.no_such_function")
