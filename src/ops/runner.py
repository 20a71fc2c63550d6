"""Run pipeline cycles locally the way AWS would: schedule, then S3 event notifications.

A cycle invokes the ingestion function as EventBridge Scheduler would, then plays S3:
every object that appeared in a bucket since the last look is matched against that
bucket's notification configuration (``get_bucket_notification_configuration``, as
Terraform created it in moto), and each matching ``LambdaFunctionConfiguration`` gets a
real S3 event payload delivered to the handler its function names (moto's Lambda
``get_function`` -> ``Handler`` -> importlib). That repeats until no new object is
notifiable: the pipeline is quiet. Then, if the load function committed runs, it is
invoked once with ``{"action": "fold_summaries"}``: in AWS a load that committed runs
sends that event to its own function (``load.handler``), which a handler run here cannot;
folding once when the cycle is quiet folds the same runs.

Nothing here knows what the stages do; the wiring comes from the deployed
configuration, so a wrong prefix, suffix or handler in the Terraform shows up locally.
Like asynchronous Lambda invocation, a failing handler is retried (twice by default),
whatever the error, and then its event goes to the function's on-failure destination
(the failure queue) if one is given; the failure is recorded in the cycle's result with
its kind (``common.errors``: retriable, fatal or unclassified), which says whether a
redrive can help before something is fixed.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import logging
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

from common.errors import failure_fields
from common.timefmt import utc_stamp
from lake.changes import COMPARE_ACTION
from load.handler import FOLD_EVENT

logger = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], Any], Any]
EVENT_NAME = "ObjectCreated:Put"
MAX_ROUNDS = 50  # a runaway (a stage triggering itself) must stop, not spin forever
_RESERVED_ENV_PREFIXES = ("AWS_",)  # Lambda's own variables; the local run keeps moto's


class RunnerError(RuntimeError):
    """The deployed wiring cannot be followed (unknown function, bad handler, no quiet)."""


# -- Lambda's context object -----------------------------------------------------------


@dataclass
class LambdaContext:
    """The attributes of the Lambda context object that Powertools and our handlers read."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int = 1024
    timeout_seconds: int = 900
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = "local"
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"
        self._deadline = time.monotonic() + self.timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


# -- event payloads (pure) ---------------------------------------------------------------


def s3_event(
    *,
    bucket: str,
    key: str,
    size: int,
    etag: str,
    sequencer: str,
    region: str,
    configuration_id: str = "",
    event_time: datetime | None = None,
) -> dict[str, Any]:
    """An S3 event notification as Lambda receives it (event structure version 2.1).

    The key is URL-encoded (spaces as ``+``) exactly as S3 sends it, so a handler that
    forgets to decode it fails here too.
    """
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": region,
                "eventTime": utc_stamp(event_time or datetime.now(UTC)),
                "eventName": EVENT_NAME,
                "userIdentity": {"principalId": "AWS:LOCALRUNNER"},
                "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {"x-amz-request-id": uuid.uuid4().hex[:16].upper(), "x-amz-id-2": "local"},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": configuration_id,
                    "bucket": {
                        "name": bucket,
                        "ownerIdentity": {"principalId": "LOCAL"},
                        "arn": f"arn:aws:s3:::{bucket}",
                    },
                    "object": {"key": quote_plus(key, safe="/"), "size": size, "eTag": etag, "sequencer": sequencer},
                },
            }
        ]
    }


def scheduled_event(region: str, schedule_arn: str = "") -> dict[str, Any]:
    """What EventBridge Scheduler's default Lambda input looks like; ingestion ignores it."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.scheduler",
        "account": "123456789012",
        "time": utc_stamp(datetime.now(UTC)),
        "region": region,
        "resources": [schedule_arn] if schedule_arn else [],
        "detail": {},
    }


def compare_event(*, allow_mass_delete: bool = False) -> dict[str, Any]:
    """The comparison schedule's event for the ingestion function (``ingestion.compare``)."""
    return {"action": COMPARE_ACTION, "allow_mass_delete": allow_mass_delete}


def _filter_rules(config: dict[str, Any]) -> dict[str, str]:
    rules = config.get("Filter", {}).get("Key", {}).get("FilterRules", [])
    return {str(r["Name"]).lower(): str(r["Value"]) for r in rules}


def _event_matches(patterns: Sequence[str], event_name: str) -> bool:
    full = f"s3:{event_name}"
    return any(p == full or (p.endswith(":*") and full.startswith(p[:-1])) for p in patterns)


def matching_functions(notification: dict[str, Any], key: str, event_name: str = EVENT_NAME) -> list[tuple[str, str]]:
    """(function ARN, configuration id) of every Lambda configuration ``key`` triggers.

    Parameters
    ----------
    notification
        A bucket's notification configuration, as ``get_bucket_notification_configuration`` returns it.
    key
        The new object's key.
    event_name
        The S3 event (without ``s3:``); a PUT creates objects.
    """
    found = []
    for config in notification.get("LambdaFunctionConfigurations", []):
        rules = _filter_rules(config)
        if not _event_matches(config.get("Events", []), event_name):
            continue
        if key.startswith(rules.get("prefix", "")) and key.endswith(rules.get("suffix", "")):
            found.append((config["LambdaFunctionArn"], config.get("Id", "")))
    return found


# -- invoking handlers -------------------------------------------------------------------


@dataclass(frozen=True)
class DeployedFunction:
    """What the local runner needs of a deployed Lambda function."""

    name: str
    arn: str
    handler: str
    environment: dict[str, str]
    timeout: int
    memory: int


def describe_function(lambda_client: Any, function: str) -> DeployedFunction:
    """Read a function's handler, environment and limits from (moto's) Lambda API."""
    try:
        config = lambda_client.get_function(FunctionName=function)["Configuration"]
    except Exception as exc:  # botocore ResourceNotFoundException and friends
        raise RunnerError(f"no deployed Lambda function {function!r}: {exc}") from exc
    return DeployedFunction(
        name=config["FunctionName"],
        arn=config["FunctionArn"],
        handler=config["Handler"],
        environment=dict(config.get("Environment", {}).get("Variables", {})),
        timeout=int(config.get("Timeout", 900)),
        memory=int(config.get("MemorySize", 1024)),
    )


def load_handler(spec: str) -> Handler:
    """Import ``package.module.function`` (Lambda's Handler setting) from this checkout."""
    module_name, _, attr = spec.rpartition(".")
    if not module_name:
        raise RunnerError(f"handler {spec!r} is not of the form module.function")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise RunnerError(f"handler module {module_name!r} cannot be imported: {exc}") from exc
    handler = getattr(module, attr, None)
    if not callable(handler):
        raise RunnerError(f"handler {spec!r}: {module_name} has no callable {attr!r}")
    return handler  # type: ignore[no-any-return]


def invoke_in_process(
    lambda_client: Any, function: str, event: dict[str, Any], overrides: dict[str, str] | None = None
) -> Any:
    """Call a deployed function's handler in this process with ``event``, as Lambda would.

    The handler, environment and limits come from the function's configuration (moto's
    or an account's); ``overrides`` win over its environment. For where no Lambda runs
    the code (moto) and for ops tools that run a stage's code here (replay).
    """
    fn = describe_function(lambda_client, function)
    handler = load_handler(fn.handler)
    with function_environment({**fn.environment, **(overrides or {})}):
        return handler(event, LambdaContext(fn.name, fn.arn, memory_limit_in_mb=fn.memory, timeout_seconds=fn.timeout))


@contextlib.contextmanager
def overlay_environ(variables: dict[str, str]) -> Iterator[None]:
    """Set ``variables`` in ``os.environ`` for the duration, then restore what was there."""
    saved = {k: os.environ.get(k) for k in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def function_environment(variables: dict[str, str]) -> contextlib.AbstractContextManager[None]:
    """Overlay a function's configured environment for one invocation, then restore."""
    return overlay_environ({k: v for k, v in variables.items() if not k.startswith(_RESERVED_ENV_PREFIXES)})


class _PerThreadStdout(io.TextIOBase):
    """``sys.stdout`` while handlers run here: each thread writes to its own sink.

    Handlers may run in two threads at once (a second load racing the first), each
    with its own log; swapping ``sys.stdout`` per call would let one call's exit
    restore the other's sink for good.
    """

    def __init__(self, default: Any) -> None:
        self.default = default
        self.users = 0

    def _target(self) -> Any:
        return getattr(_thread_sink, "sink", None) or self.default

    def write(self, text: str) -> int:
        return self._target().write(text)

    def flush(self) -> None:
        self._target().flush()


_thread_sink = threading.local()
_stdout_lock = threading.Lock()


@contextlib.contextmanager
def stage_output_to(sink: io.TextIOBase | None) -> Iterator[None]:
    """Send this thread's handler output (Powertools JSON logs, EMF metrics) to ``sink``.

    The stages' loggers write to whatever ``sys.stdout`` is at the time
    (common.observability), so routing ``sys.stdout`` is enough.
    """
    if sink is None:
        yield
        return
    with _stdout_lock:
        router = sys.stdout if isinstance(sys.stdout, _PerThreadStdout) else _PerThreadStdout(sys.stdout)
        router.users += 1
        sys.stdout = router
    outer, _thread_sink.sink = getattr(_thread_sink, "sink", None), sink
    try:
        yield
    finally:
        _thread_sink.sink = outer
        sink.flush()
        with _stdout_lock:
            router.users -= 1
            if router.users == 0 and sys.stdout is router:
                sys.stdout = router.default


@dataclass
class Invocation:
    """One delivered event: which function, why, how long, and how it ended."""

    function: str
    trigger: str
    started_at: datetime
    duration_s: float
    attempts: int
    error: str | None = None
    result: Any = None
    failure_kind: str | None = None  # retriable, fatal or unclassified (common.errors)

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class CycleResult:
    """Everything one cycle invoked, in order."""

    invocations: list[Invocation] = field(default_factory=list)
    rounds: int = 0

    @property
    def ok(self) -> bool:
        return all(i.ok for i in self.invocations)

    @property
    def failures(self) -> list[Invocation]:
        return [i for i in self.invocations if not i.ok]

    def duration_by_function(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for i in self.invocations:
            out[i.function] = out.get(i.function, 0.0) + i.duration_s
        return out


@dataclass
class PipelineRunner:
    """Plays schedule and S3 notifications against the handlers of a deployed pipeline.

    Parameters
    ----------
    s3, lambda_client
        boto3 clients of the (moto) account the Terraform was applied to.
    ingestion_function
        Name or ARN of the scheduled ingestion function.
    buckets
        Buckets whose notifications to deliver (the ingest and processed buckets).
    region
        Region written into event payloads.
    sqs
        Optional SQS client; with ``failure_queue_url``, a finally failed event goes there.
    failure_queue_url
        The on-failure destination of the asynchronous invocations.
    retries
        Extra attempts after a failure, as asynchronous invocation makes (2 in AWS).
    log_sink
        Where handler stdout goes (a file under .local/logs/ in ``run-local``); None: stdout.
    load_function
        Name or ARN of the load function, which gets the summaries' fold event after a
        cycle in which it ran (None: no fold, the summaries trail the facts).
    """

    s3: Any
    lambda_client: Any
    ingestion_function: str
    buckets: Sequence[str]
    region: str = "eu-west-2"
    sqs: Any = None
    failure_queue_url: str | None = None
    retries: int = 2
    log_sink: io.TextIOBase | None = None
    load_function: str | None = None
    _seen: dict[str, set[str]] = field(default_factory=dict, init=False, repr=False)
    _functions: dict[str, DeployedFunction] = field(default_factory=dict, init=False, repr=False)
    _sequencer: int = field(default=0, init=False, repr=False)

    # -- bookkeeping -------------------------------------------------------------------
    def _list(self, bucket: str) -> dict[str, dict[str, Any]]:
        objects: dict[str, dict[str, Any]] = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for obj in page.get("Contents", []):
                objects[obj["Key"]] = obj
        return objects

    def mark_all_seen(self) -> None:
        """Treat every object now in the buckets as already notified (start of a cycle)."""
        for bucket in self.buckets:
            self._seen[bucket] = set(self._list(bucket))

    def _function(self, ref: str) -> DeployedFunction:
        if ref not in self._functions:
            self._functions[ref] = describe_function(self.lambda_client, ref)
        return self._functions[ref]

    # -- invoking ----------------------------------------------------------------------
    def invoke(self, function_ref: str, event: dict[str, Any], trigger: str) -> Invocation:
        """Invoke a deployed function's handler in this process, with async-invocation retries."""
        fn = self._function(function_ref)
        handler = load_handler(fn.handler)
        started, t0 = datetime.now(UTC), time.perf_counter()
        error: str | None = None
        failure: dict[str, object] = {}
        result: Any = None
        attempts = 0
        for attempt in range(1 + self.retries):
            attempts = attempt + 1
            context = LambdaContext(fn.name, fn.arn, memory_limit_in_mb=fn.memory, timeout_seconds=fn.timeout)
            try:
                with function_environment(fn.environment), stage_output_to(self.log_sink):
                    result = handler(event, context)
                error = None
                break
            except Exception as exc:  # a Lambda invocation error: record, retry, then dead-letter
                error, failure = f"{type(exc).__name__}: {exc}", failure_fields(exc)
                if self.log_sink is not None:
                    self.log_sink.write(traceback.format_exc())
                logger.warning("%s failed (attempt %d): %s", fn.name, attempts, error)
        if error is None:
            return Invocation(fn.name, trigger, started, time.perf_counter() - t0, attempts, None, result)
        self._dead_letter(fn, event, error, str(failure["error_type"]))
        kind = str(failure["failure_kind"])
        return Invocation(fn.name, trigger, started, time.perf_counter() - t0, attempts, error, result, kind)

    def _dead_letter(self, fn: DeployedFunction, event: dict[str, Any], error: str, error_type: str) -> None:
        if self.sqs is None or not self.failure_queue_url:
            return
        record = {
            "version": "1.0",
            "timestamp": utc_stamp(datetime.now(UTC)),
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": f"{fn.arn}:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": 1 + self.retries,
            },
            "requestPayload": event,
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "responsePayload": {"errorMessage": error, "errorType": error_type},
        }
        self.sqs.send_message(QueueUrl=self.failure_queue_url, MessageBody=json.dumps(record))

    def deliver_notifications(self) -> list[Invocation]:
        """One round: deliver the event of every new notifiable object, oldest key first."""
        invocations: list[Invocation] = []
        for bucket in self.buckets:
            seen = self._seen.setdefault(bucket, set())
            current = self._list(bucket)
            new_keys = sorted(set(current) - seen)
            if not new_keys:
                continue
            notification = self.s3.get_bucket_notification_configuration(Bucket=bucket)
            for key in new_keys:
                seen.add(key)
                obj = current[key]
                for function_arn, config_id in matching_functions(notification, key):
                    self._sequencer += 1
                    event = s3_event(
                        bucket=bucket,
                        key=key,
                        size=int(obj.get("Size", 0)),
                        etag=str(obj.get("ETag", "")).strip('"'),
                        sequencer=f"{self._sequencer:016X}",
                        region=self.region,
                        configuration_id=config_id,
                    )
                    invocations.append(self.invoke(function_arn, event, f"s3://{bucket}/{key}"))
        return invocations

    def run_cycle(self, *, schedule: bool = True, ingestion_event: dict[str, Any] | None = None) -> CycleResult:
        """Invoke ingestion as the schedule would, then deliver notifications until quiet.

        Parameters
        ----------
        schedule
            False skips the ingestion invocation (only drain pending notifications).
        ingestion_event
            The event of that invocation (default: the incremental schedule's;
            ``compare_event()``: the comparison's schedule).

        Raises
        ------
        RunnerError
            The pipeline did not become quiet within MAX_ROUNDS rounds.
        """
        result = CycleResult()
        if not self._seen:
            self.mark_all_seen()
        if schedule:
            event = ingestion_event or scheduled_event(self.region)
            result.invocations.append(self.invoke(self.ingestion_function, event, "schedule"))
        for _ in range(MAX_ROUNDS):
            delivered = self.deliver_notifications()
            result.rounds += 1
            if not delivered:
                result.invocations += self._fold_summaries(result.invocations)
                return result
            result.invocations += delivered
        raise RunnerError(f"the pipeline was not quiet after {MAX_ROUNDS} rounds of notifications")

    def _fold_summaries(self, invocations: Sequence[Invocation]) -> list[Invocation]:
        """The summaries' fold, if the load function committed runs (in AWS it asks for the fold itself)."""
        if self.load_function is None:
            return []
        load = self._function(self.load_function).name
        if not any(i.function == load and _committed_runs(i.result) for i in invocations):
            return []
        return [self.invoke(self.load_function, dict(FOLD_EVENT), "fold request")]


def _committed_runs(result: Any) -> bool:
    """Whether a load invocation's answer (``load.run.LoadResult.summary``) says it committed runs."""
    return isinstance(result, dict) and bool(result.get("runs_committed"))
