"""The Terraform root module applied to moto: the wiring the pipeline relies on.

The deployment is the infra tests' shared one (conftest.py: every option on, the
state in the bootstrapped bucket); boto3 reads back what Terraform created: the
S3 -> Lambda notifications, the alarm actions, each role's exact (action, resource)
grants, the layer, the network placement, the warehouse, the SSM state's start (that
a later apply never resets it: test_first_deploy.py), the functions' environment and
the schedules. The last test destroys it, which must complete (moto can hang on
versioned buckets that still hold objects; destroy_local empties them first).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from local.moto_server import REGION
from local.terraform_local import destroy_local, pull_state

pytestmark = [pytest.mark.slow, pytest.mark.integration]

# The deployment of conftest.py.
ENV = "wiring"
ACCOUNT = "123456789012"
ALARM_EMAIL = "pipeline-alerts@example.com"
Deployed = Any  # conftest.Deployed (conftest modules are not importable)


def _arn(bucket: str) -> str:
    return f"arn:aws:s3:::{bucket}"


def _grants(policy_document: dict[str, Any] | str) -> set[tuple[str, str]]:
    """Every (action, resource) pair an Allow statement grants."""
    doc = json.loads(policy_document) if isinstance(policy_document, str) else policy_document
    pairs: set[tuple[str, str]] = set()
    for statement in doc["Statement"]:
        assert statement["Effect"] == "Allow", statement
        assert "Condition" not in statement, statement
        assert "NotAction" not in statement, statement
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        pairs |= {(action, resource) for action in actions for resource in resources}
    return pairs


def _role_grants(iam: Any, role_arn: str) -> set[tuple[str, str]]:
    role_name = role_arn.rsplit("/", 1)[1]
    # Everything must come from the inline policy: no managed policy sneaks in more.
    assert iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"] == []
    grants: set[tuple[str, str]] = set()
    for policy_name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
        grants |= _grants(iam.get_role_policy(RoleName=role_name, PolicyName=policy_name)["PolicyDocument"])
    return grants


def _function(deployed: Deployed, stage: str) -> dict[str, Any]:
    return deployed.client("lambda").get_function_configuration(FunctionName=deployed.outputs[f"{stage}_function_name"])


# -- outputs ----------------------------------------------------------------------


def test_outputs_name_everything_the_local_stack_reads(deployed: Deployed) -> None:
    from common.config import PipelineResources

    out = deployed.outputs
    resources = PipelineResources.from_terraform_outputs(out)
    assert resources.ingest_bucket == f"totes-{ENV}-ingest-{ACCOUNT}"
    assert resources.processed_bucket == f"totes-{ENV}-processed-{ACCOUNT}"
    assert resources.ssm_prefix == f"/totes/{ENV}"
    assert resources.source_db_secret == f"totes/{ENV}/totesys-db"
    assert resources.warehouse_db_secret == f"totes/{ENV}/warehouse-db"
    for stage in ("ingestion", "transform", "load"):
        assert out[f"{stage}_function_name"] == f"totes-{ENV}-{stage}"
        assert out[f"{stage}_function_arn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:totes-{ENV}-{stage}"
    assert out["failure_queue_url"].endswith(f"/{ACCOUNT}/totes-{ENV}-failed-invocations")
    assert out["sns_topic_arn"] == f"arn:aws:sns:{REGION}:{ACCOUNT}:totes-{ENV}-alarms"
    assert out["dashboard_name"] == f"totes-{ENV}-pipeline"
    assert out["aws_region"] == REGION


# -- events ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bucket_output", "stage"), [("ingest_bucket_name", "transform"), ("processed_bucket_name", "load")]
)
def test_commit_records_wake_the_next_stage(deployed: Deployed, bucket_output: str, stage: str) -> None:
    s3 = deployed.client("s3")
    config = s3.get_bucket_notification_configuration(Bucket=deployed.outputs[bucket_output])
    assert config.get("QueueConfigurations", []) == []
    assert config.get("TopicConfigurations", []) == []
    [lambda_config] = config["LambdaFunctionConfigurations"]
    assert lambda_config["LambdaFunctionArn"] == deployed.outputs[f"{stage}_function_arn"]
    assert lambda_config["Events"] == ["s3:ObjectCreated:*"]
    rules = {r["Name"].lower(): r["Value"] for r in lambda_config["Filter"]["Key"]["FilterRules"]}
    assert rules == {"prefix": "runs/", "suffix": ".json"}

    # S3 may invoke the function, but only for this bucket and account.
    policy = json.loads(
        deployed.client("lambda").get_policy(FunctionName=deployed.outputs[f"{stage}_function_name"])["Policy"]
    )
    [statement] = [s for s in policy["Statement"] if s["Principal"] == {"Service": "s3.amazonaws.com"}]
    assert statement["Action"] == "lambda:InvokeFunction"
    assert statement["Condition"]["ArnLike"]["AWS:SourceArn"] == _arn(deployed.outputs[bucket_output])
    assert statement["Condition"]["StringEquals"]["AWS:SourceAccount"] == ACCOUNT


def test_artifacts_bucket_wakes_nobody(deployed: Deployed) -> None:
    config = deployed.client("s3").get_bucket_notification_configuration(
        Bucket=deployed.outputs["artifacts_bucket_name"]
    )
    assert not config.get("LambdaFunctionConfigurations")


@pytest.mark.parametrize(
    ("output", "stage", "expression", "event"),
    [
        ("ingestion_schedule_name", "ingestion", "rate(5 minutes)", {"source": "scheduler"}),
        ("comparison_schedule_name", "ingestion", "rate(60 minutes)", {"action": "compare"}),
        # The backstop of the fold each committing load requests (summary_fold.tf).
        ("summary_fold_schedule_name", "load", "rate(30 minutes)", {"action": "fold_summaries"}),
    ],
)
def test_schedules_target_their_function_with_a_role_that_may_invoke_only_it(
    deployed: Deployed, output: str, stage: str, expression: str, event: dict[str, str]
) -> None:
    scheduler = deployed.client("scheduler")
    schedule = scheduler.get_schedule(Name=deployed.outputs[output])
    assert schedule["ScheduleExpression"] == expression
    assert schedule["State"] == "ENABLED"
    target = schedule["Target"]
    assert json.loads(target["Input"]) == event
    assert target["Arn"] == deployed.outputs[f"{stage}_function_arn"]
    assert target["DeadLetterConfig"]["Arn"] == deployed.outputs["failure_queue_arn"]

    role_grants = _role_grants(deployed.client("iam"), target["RoleArn"])
    assert role_grants == {
        ("lambda:InvokeFunction", deployed.outputs[f"{stage}_function_arn"]),
        ("sqs:SendMessage", deployed.outputs["failure_queue_arn"]),
    }


def test_the_fold_schedule_sends_the_load_handlers_fold_event(deployed: Deployed) -> None:
    # The schedule must send exactly the event the handler dispatches on (the one it
    # also sends itself after a load), or every scheduled fold fails as an unknown action.
    from load.handler import FOLD_EVENT

    schedule = deployed.client("scheduler").get_schedule(Name=deployed.outputs["summary_fold_schedule_name"])
    assert json.loads(schedule["Target"]["Input"]) == FOLD_EVENT


@pytest.mark.parametrize("stage", ["ingestion", "transform", "load"])
def test_only_s3_may_invoke_a_function_through_its_resource_policy(deployed: Deployed, stage: str) -> None:
    # Schedules invoke through their role, load invokes itself through its role:
    # no function needs a wider resource policy than its S3 trigger's.
    lam = deployed.client("lambda")
    name = deployed.outputs[f"{stage}_function_name"]
    if stage == "ingestion":
        with pytest.raises(lam.exceptions.ResourceNotFoundException):
            lam.get_policy(FunctionName=name)
        return
    statements = json.loads(lam.get_policy(FunctionName=name)["Policy"])["Statement"]
    assert [s["Principal"] for s in statements] == [{"Service": "s3.amazonaws.com"}]


@pytest.mark.parametrize("stage", ["ingestion", "transform", "load"])
def test_failed_async_invocations_go_to_the_failure_queue(deployed: Deployed, stage: str) -> None:
    config = deployed.client("lambda").get_function_event_invoke_config(
        FunctionName=deployed.outputs[f"{stage}_function_name"]
    )
    assert config["MaximumRetryAttempts"] == 2
    assert config["MaximumEventAgeInSeconds"] == 3600
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == deployed.outputs["failure_queue_arn"]


# -- IAM -------------------------------------------------------------------------


def _expected_grants(deployed: Deployed) -> dict[str, set[tuple[str, str]]]:
    out = deployed.outputs
    ingest, processed = _arn(out["ingest_bucket_name"]), _arn(out["processed_bucket_name"])
    secrets = deployed.client("secretsmanager")
    source_secret = secrets.describe_secret(SecretId=out["source_db_secret_name"])["ARN"]
    warehouse_secret = secrets.describe_secret(SecretId=out["warehouse_db_secret_name"])["ARN"]

    # In the VPC, Lambda manages each function's network interfaces with its role:
    # only in the deployment's subnets, with its security group, in this account.
    ec2 = f"arn:aws:ec2:{REGION}:{ACCOUNT}"
    interfaces = f"{ec2}:network-interface/*"
    manage = ("ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses")
    create_in = [interfaces, f"{ec2}:security-group/{out['functions_security_group_id']}"] + [
        f"{ec2}:subnet/{subnet}" for subnet in deployed.account.subnet_ids
    ]
    network = (
        {("ec2:CreateNetworkInterface", arn) for arn in create_in}
        | {(action, interfaces) for action in manage}
        | {("ec2:DescribeNetworkInterfaces", "*"), ("ec2:DescribeSubnets", "*")}  # no resource-level permissions
    )

    def base(stage: str) -> set[tuple[str, str]]:
        log_streams = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/totes-{ENV}-{stage}:*"
        return network | {
            ("logs:CreateLogStream", log_streams),
            ("logs:PutLogEvents", log_streams),
            ("sqs:SendMessage", out["failure_queue_arn"]),
        }

    ingestion_objects = [f"{ingest}/data/*", f"{ingest}/state/*", f"{ingest}/runs/*"]
    ingestion_parameters = f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/totes/{ENV}/ingestion/*"
    return {
        "ingestion": base("ingestion")
        | {(action, key) for action in ("s3:GetObject", "s3:PutObject") for key in ingestion_objects}
        | {("s3:ListBucket", ingest)}
        | {("ssm:GetParameter", ingestion_parameters), ("ssm:PutParameter", ingestion_parameters)}
        | {("secretsmanager:GetSecretValue", source_secret)},
        "transform": base("transform")
        | {("s3:GetObject", f"{ingest}/*"), ("s3:ListBucket", ingest)}
        | {("s3:GetObject", f"{processed}/*"), ("s3:PutObject", f"{processed}/*"), ("s3:ListBucket", processed)},
        "load": base("load")
        | {("s3:GetObject", f"{processed}/*"), ("s3:ListBucket", processed)}
        | {("secretsmanager:GetSecretValue", warehouse_secret)}
        # The fold each committing load requests: its own function only (no alias, no "*").
        | {("lambda:InvokeFunction", out["load_function_arn"])},
    }


@pytest.mark.parametrize("stage", ["ingestion", "transform", "load"])
def test_each_role_grants_exactly_what_its_handler_uses(deployed: Deployed, stage: str) -> None:
    role_arn = _function(deployed, stage)["Role"]
    assert role_arn == deployed.outputs["function_role_arns"][stage]
    assert _role_grants(deployed.client("iam"), role_arn) == _expected_grants(deployed)[stage]


def test_roles_are_not_shared(deployed: Deployed) -> None:
    roles = {_function(deployed, stage)["Role"] for stage in ("ingestion", "transform", "load")}
    assert len(roles) == 3


# -- functions -------------------------------------------------------------------


def test_functions_run_the_documented_handlers_with_the_right_environment(deployed: Deployed) -> None:
    out = deployed.outputs
    common = {"INGEST_BUCKET": out["ingest_bucket_name"], "POWERTOOLS_METRICS_NAMESPACE": "TotesPipeline"}
    expected = {
        "ingestion": common
        | {
            "POWERTOOLS_SERVICE_NAME": "ingestion",
            "SSM_PREFIX": out["ssm_prefix"],
            "SOURCE_DB_SECRET": out["source_db_secret_name"],
            "LOOKBACK_SECONDS": "900",
            "SNAPSHOT_ROWS_PER_RUN": "4000000",
        },
        "transform": common
        | {"POWERTOOLS_SERVICE_NAME": "transform", "PROCESSED_BUCKET": out["processed_bucket_name"]},
        "load": common
        | {
            "POWERTOOLS_SERVICE_NAME": "load",
            "PROCESSED_BUCKET": out["processed_bucket_name"],
            "WAREHOUSE_DB_SECRET": out["warehouse_db_secret_name"],
        },
    }
    for stage, env in expected.items():
        config = _function(deployed, stage)
        assert config["Handler"] == f"{stage}.handler.lambda_handler"
        assert config["Runtime"] == "python3.12"
        assert config["EphemeralStorage"]["Size"] == (1024 if stage == "ingestion" else 512)  # conftest's settings
        variables = config["Environment"]["Variables"]
        assert {k: variables.get(k) for k in env} == env
        # A stage never learns about a resource it has no permission for.
        assert ("WAREHOUSE_DB_SECRET" in variables) == (stage == "load")
        assert ("SOURCE_DB_SECRET" in variables) == (stage == "ingestion")


def test_function_code_is_the_built_zip_from_the_artifacts_bucket(deployed: Deployed) -> None:
    import base64
    import hashlib

    for stage in ("ingestion", "transform", "load"):
        built = (deployed.workdir / "build" / f"{stage}.zip").read_bytes()
        config = _function(deployed, stage)
        assert config["CodeSha256"] == base64.b64encode(hashlib.sha256(built).digest()).decode()
        stored = deployed.client("s3").get_object(
            Bucket=deployed.outputs["artifacts_bucket_name"], Key=f"lambda/{stage}.zip"
        )
        assert stored["Body"].read() == built


# -- alarms ----------------------------------------------------------------------


def test_every_alarm_notifies_the_topic(deployed: Deployed) -> None:
    topic = deployed.outputs["sns_topic_arn"]
    alarms = deployed.client("cloudwatch").describe_alarms(AlarmNamePrefix=f"totes-{ENV}-")["MetricAlarms"]
    names = {a["AlarmName"] for a in alarms}
    for stage in ("ingestion", "transform", "load"):
        for kind in ("errors", "throttles", "duration-near-timeout", "error-log-lines"):
            assert f"totes-{ENV}-{stage}-{kind}" in names
    assert {f"totes-{ENV}-freshness", f"totes-{ENV}-failed-invocations", f"totes-{ENV}-summaries-stale"} <= names
    for alarm in alarms:
        assert alarm["ActionsEnabled"], alarm["AlarmName"]
        assert topic in alarm["AlarmActions"], alarm["AlarmName"]
        assert topic in alarm["OKActions"], alarm["AlarmName"]


def test_freshness_alarm_fires_when_load_commits_nothing_for_30_minutes(deployed: Deployed) -> None:
    [alarm] = deployed.client("cloudwatch").describe_alarms(AlarmNames=[f"totes-{ENV}-freshness"])["MetricAlarms"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("TotesPipeline", "RunsCommitted")
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "load"}]
    assert alarm["Statistic"] == "Sum"
    assert alarm["ComparisonOperator"] == "LessThanThreshold"
    assert alarm["Threshold"] == 1
    assert alarm["Period"] * alarm["EvaluationPeriods"] == 30 * 60
    assert alarm["TreatMissingData"] == "breaching"


def test_summaries_stale_alarm_fires_when_no_fold_completes_in_two_intervals(deployed: Deployed) -> None:
    [alarm] = deployed.client("cloudwatch").describe_alarms(AlarmNames=[f"totes-{ENV}-summaries-stale"])["MetricAlarms"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("TotesPipeline", "SummaryFoldsCompleted")
    assert alarm["Dimensions"] == [{"Name": "service", "Value": "load"}]
    assert (alarm["Statistic"], alarm["ComparisonOperator"], alarm["Threshold"]) == ("Sum", "LessThanThreshold", 1)
    assert alarm["Period"] == 30 * 60  # the schedule's interval
    assert alarm["EvaluationPeriods"] == 2
    assert alarm["TreatMissingData"] == "breaching"  # no fold at all is what it is for


def test_duration_alarms_sit_at_80_percent_of_each_timeout(deployed: Deployed) -> None:
    cloudwatch = deployed.client("cloudwatch")
    for stage in ("ingestion", "transform", "load"):
        [alarm] = cloudwatch.describe_alarms(AlarmNames=[f"totes-{ENV}-{stage}-duration-near-timeout"])["MetricAlarms"]
        assert alarm["Threshold"] == _function(deployed, stage)["Timeout"] * 1000 * 0.8


def test_failure_queue_alarm_and_error_log_filters(deployed: Deployed) -> None:
    [alarm] = deployed.client("cloudwatch").describe_alarms(AlarmNames=[f"totes-{ENV}-failed-invocations"])[
        "MetricAlarms"
    ]
    queue_name = deployed.outputs["failure_queue_url"].rsplit("/", 1)[1]
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": queue_name}]
    assert (alarm["MetricName"], alarm["ComparisonOperator"], alarm["Threshold"]) == (
        "ApproximateNumberOfMessagesVisible", "GreaterThanThreshold", 0,
    )  # fmt: skip

    logs = deployed.client("logs")
    for stage, group in deployed.outputs["log_group_names"].items():
        [log_group] = [
            g for g in logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"] if g["logGroupName"] == group
        ]
        assert log_group["retentionInDays"] == 1  # environments/local.tfvars
        [metric_filter] = logs.describe_metric_filters(logGroupName=group)["metricFilters"]
        assert metric_filter["filterPattern"] == '{ $.level = "ERROR" }', stage


def test_topic_is_encrypted_and_mails_the_subscribers(deployed: Deployed) -> None:
    sns = deployed.client("sns")
    topic = deployed.outputs["sns_topic_arn"]
    assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["KmsMasterKeyId"]
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert [(s["Protocol"], s["Endpoint"]) for s in subscriptions] == [("email", ALARM_EMAIL)]


def test_dashboard_shows_the_pipeline_metrics(deployed: Deployed) -> None:
    body = json.loads(
        deployed.client("cloudwatch").get_dashboard(DashboardName=deployed.outputs["dashboard_name"])["DashboardBody"]
    )
    metrics = {m[1] for w in body["widgets"] if w["type"] == "metric" for m in w["properties"]["metrics"]}
    assert {
        "RunsCommitted", "RowsExtracted", "SequenceGaps", "SourceLagSeconds", "RowsTransformed", "RowsQuarantined",
        "RowsLoaded", "InferredMembers", "ChangeToLoadLagSeconds", "RunDurationMs", "SummaryFoldsCompleted",
        "RunsFolded", "SummaryFoldsFailed", "SummaryFoldRequestFailed", "SummaryFoldDurationMs",
    } <= metrics  # fmt: skip


# -- buckets ---------------------------------------------------------------------


@pytest.mark.parametrize("bucket_output", ["ingest_bucket_name", "processed_bucket_name", "artifacts_bucket_name"])
def test_buckets_are_versioned_encrypted_and_private(deployed: Deployed, bucket_output: str) -> None:
    s3 = deployed.client("s3")
    bucket = deployed.outputs[bucket_output]
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    [rule] = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values())
    assert len(block) == 4
    rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]}
    assert rules["expire-noncurrent-versions"]["NoncurrentVersionExpiration"]["NoncurrentDays"] == 90
    assert rules["abort-incomplete-multipart-uploads"]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 7


# -- layer, network placement, warehouse ---------------------------------------


def test_every_function_runs_with_the_layer_the_public_parameter_names(deployed: Deployed) -> None:
    # conftest published the parameter at the path of the aws-sdk-pandas docs for the
    # pinned version; an apply reading any other name would have failed.
    assert deployed.outputs["aws_sdk_pandas_layer_arn"] == deployed.account.layer_arn
    for stage in ("ingestion", "transform", "load"):
        layers = _function(deployed, stage)["Layers"]
        assert [layer["Arn"] for layer in layers] == [deployed.account.layer_arn], stage


def _rules(ec2: Any, group_id: str) -> dict[str, set[tuple[Any, ...]]]:
    """A security group's rules as {"ingress"|"egress": {(protocol, from, to, peer)}}."""
    rules: dict[str, set[tuple[Any, ...]]] = {"ingress": set(), "egress": set()}
    found = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group_id]}])
    for rule in found["SecurityGroupRules"]:
        peer = (
            rule.get("CidrIpv4")
            or rule.get("PrefixListId")
            or (rule.get("ReferencedGroupInfo") or {}).get("GroupId")
            or rule.get("CidrIpv6")
        )
        kind = "egress" if rule["IsEgress"] else "ingress"
        rules[kind].add((rule["IpProtocol"], rule["FromPort"], rule["ToPort"], peer))
    return rules


def test_functions_run_in_the_private_subnets_and_let_out_only_https_and_postgres(deployed: Deployed) -> None:
    out = deployed.outputs
    group = out["functions_security_group_id"]
    for stage in ("ingestion", "transform", "load"):
        vpc = _function(deployed, stage)["VpcConfig"]
        assert sorted(vpc["SubnetIds"]) == sorted(deployed.account.subnet_ids), stage
        assert vpc["SecurityGroupIds"] == [group], stage

    ec2 = deployed.client("ec2")
    assert _rules(ec2, group) == {
        "ingress": set(),
        "egress": {
            ("tcp", 443, 443, deployed.account.vpc_cidr),  # the interface endpoints
            ("tcp", 443, 443, _s3_prefix_list(ec2)),  # S3 through the gateway endpoint
            ("tcp", 5432, 5432, "203.0.113.10/32"),  # totesys (database_cidr_blocks)
            ("tcp", 5432, 5432, out["warehouse_security_group_id"]),
        },
    }


def _s3_prefix_list(ec2: Any) -> str:
    [prefix_list] = ec2.describe_prefix_lists(
        Filters=[{"Name": "prefix-list-name", "Values": [f"com.amazonaws.{REGION}.s3"]}]
    )["PrefixLists"]
    return str(prefix_list["PrefixListId"])


def test_vpc_endpoints_serve_every_api_the_functions_call(deployed: Deployed) -> None:
    ec2 = deployed.client("ec2")
    ids = deployed.outputs["vpc_endpoint_ids"]
    assert set(ids) == {"s3", "ssm", "secretsmanager", "lambda", "logs", "monitoring"}
    endpoints = {
        e["ServiceName"].rsplit(".", 1)[1]: e
        for e in ec2.describe_vpc_endpoints(VpcEndpointIds=list(ids.values()))["VpcEndpoints"]
    }
    assert endpoints["s3"]["VpcEndpointType"] == "Gateway"
    assert endpoints["s3"]["RouteTableIds"] == [deployed.account.route_table_id]
    interface_groups = set()
    for service in ("ssm", "secretsmanager", "lambda", "logs", "monitoring"):
        endpoint = endpoints[service]
        assert endpoint["VpcEndpointType"] == "Interface", service
        assert endpoint["VpcId"] == deployed.account.vpc_id, service
        assert endpoint["PrivateDnsEnabled"], service
        assert sorted(endpoint["SubnetIds"]) == sorted(deployed.account.subnet_ids), service
        interface_groups |= {g["GroupId"] for g in endpoint["Groups"]}
    [endpoint_group] = interface_groups
    assert _rules(ec2, endpoint_group) == {"ingress": {("tcp", 443, 443, deployed.account.vpc_cidr)}, "egress": set()}


def test_warehouse_is_private_encrypted_tls_only_and_backed_up(deployed: Deployed) -> None:
    out = deployed.outputs
    rds = deployed.client("rds")
    [db] = rds.describe_db_instances(DBInstanceIdentifier=f"totes-{ENV}-warehouse")["DBInstances"]
    assert db["Engine"] == "postgres"
    assert db["EngineVersion"].split(".")[0] == "18"
    assert db["StorageEncrypted"]
    assert not db["PubliclyAccessible"]
    assert db["BackupRetentionPeriod"] == 7
    assert not db["DeletionProtection"]  # on in prod only
    assert db["DBName"] == out["warehouse_database_name"] == "warehouse"
    assert db["Endpoint"]["Address"] == out["warehouse_endpoint"]
    assert sorted(s["SubnetIdentifier"] for s in db["DBSubnetGroup"]["Subnets"]) == sorted(deployed.account.subnet_ids)
    assert [g["VpcSecurityGroupId"] for g in db["VpcSecurityGroups"]] == [out["warehouse_security_group_id"]]

    # The master password: generated and kept by RDS in Secrets Manager, never in Terraform.
    assert db["MasterUserSecret"]["SecretArn"] == out["warehouse_master_user_secret_arn"]
    master = json.loads(
        deployed.client("secretsmanager").get_secret_value(SecretId=out["warehouse_master_user_secret_arn"])[
            "SecretString"
        ]
    )
    assert db["MasterUsername"] == "totes_admin"
    assert master["password"]
    assert master["password"] not in pull_state(deployed.moto.endpoint, deployed.workdir)

    [group] = db["DBParameterGroups"]
    parameters = {
        p["ParameterName"]: p.get("ParameterValue")
        for p in rds.describe_db_parameters(DBParameterGroupName=group["DBParameterGroupName"])["Parameters"]
    }
    assert parameters["rds.force_ssl"] == "1"

    # Reachable from the functions only, on the PostgreSQL port; nothing goes out.
    ec2 = deployed.client("ec2")
    assert _rules(ec2, out["warehouse_security_group_id"]) == {
        "ingress": {("tcp", 5432, 5432, out["functions_security_group_id"])},
        "egress": set(),
    }


# -- state and secrets -------------------------------------------------------------


def test_state_is_in_the_bootstrapped_bucket_without_secrets(deployed: Deployed) -> None:
    s3 = deployed.client("s3")
    key = f"totes/{ENV}/terraform.tfstate"
    stored = s3.get_object(Bucket=deployed.state_bucket, Key=key)["Body"].read().decode()
    assert json.loads(stored)["resources"]
    # S3-native locking: the lock object exists only while a command runs.
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=deployed.state_bucket).get("Contents", [])]
    assert keys == [key]
    assert s3.get_bucket_versioning(Bucket=deployed.state_bucket)["Status"] == "Enabled"
    assert "SecretString" not in stored
    assert "secret_string" not in stored


def test_secrets_exist_without_a_value(deployed: Deployed) -> None:
    secrets = deployed.client("secretsmanager")
    for name in (deployed.outputs["source_db_secret_name"], deployed.outputs["warehouse_db_secret_name"]):
        assert secrets.describe_secret(SecretId=name)["Name"] == name
        # No value from Terraform: it is set out of band (docs/operations.md). Read right
        # after the deploy: test_first_deploy.py sets them.
        assert deployed.secrets_had_value[name] is False, name


def test_ssm_state_starts_at_run_zero_with_no_watermarks(deployed: Deployed) -> None:
    # Right after the deploy; that a later deploy never rewinds it (ignore_changes) is
    # test_first_deploy.py's second `make deploy`, after a real first run.
    state = f"{deployed.outputs['ssm_prefix']}/ingestion"
    assert deployed.ssm_after_deploy == {
        f"{state}/last_run_seq": "0",
        f"{state}/watermarks": "{}",
        f"{state}/snapshot_cursors": "{}",
    }


@pytest.mark.destroys_deployment
def test_destroy_completes_with_objects_versions_and_delete_markers_in_the_buckets(deployed: Deployed) -> None:
    s3 = deployed.client("s3")
    ingest = deployed.outputs["ingest_bucket_name"]
    s3.put_object(Bucket=ingest, Key="runs/0000000001.json", Body=b"{}")
    s3.put_object(Bucket=ingest, Key="data/x.jsonl.gz", Body=b"1")
    s3.delete_object(Bucket=ingest, Key="data/x.jsonl.gz")  # leaves a version and a delete marker

    destroy_local(deployed.moto.endpoint, env=ENV, workdir=deployed.workdir)

    buckets = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert not buckets & {
        deployed.outputs[k] for k in ("ingest_bucket_name", "processed_bucket_name", "artifacts_bucket_name")
    }
    # moto's backends are shared by every moto server in this process: look only
    # at this environment's resources.
    functions = deployed.client("lambda").list_functions()["Functions"]
    assert [f["FunctionName"] for f in functions if f["FunctionName"].startswith(f"totes-{ENV}-")] == []
    parameters = deployed.client("ssm").describe_parameters()["Parameters"]
    assert [p["Name"] for p in parameters if p["Name"].startswith(deployed.outputs["ssm_prefix"])] == []
    alarms = deployed.client("cloudwatch").describe_alarms(AlarmNamePrefix=f"totes-{ENV}-")["MetricAlarms"]
    assert alarms == []
    instances = deployed.client("rds").describe_db_instances()["DBInstances"]
    assert [d["DBInstanceIdentifier"] for d in instances if d["DBInstanceIdentifier"].startswith(f"totes-{ENV}-")] == []
    groups = deployed.client("ec2").describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [deployed.account.vpc_id]}]
    )["SecurityGroups"]
    assert [g["GroupName"] for g in groups if g["GroupName"].startswith(f"totes-{ENV}-")] == []
