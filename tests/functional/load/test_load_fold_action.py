"""The load function's fold action (load.handler, ``{"action": "fold_summaries"}``) and the
request for it a load sends to its own function. Real PostgreSQL, the handlers against moto;
the async Invoke goes to moto (which accepts an Event invocation without running the code)
and is observed on boto3's default session, not replaced."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from cli.main import app
from load.errors import SummaryFoldError
from load.handler import FOLD_ACTION, FOLD_EVENT, lambda_handler

LATER = dt.datetime(2024, 3, 5, 8, 0)


@pytest.fixture
def invokes(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every lambda Invoke call made through boto3's default session (the handlers' clients)."""
    seen: list[dict[str, Any]] = []
    session = boto3.session.Session()

    def record(params: dict[str, Any], **_kwargs: Any) -> None:
        seen.append(params)

    session.events.register("provide-client-params.lambda.Invoke", record)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", session)
    return seen


def _stamp(admin: Any) -> int | None:
    return admin.run("SELECT min(run_seq) FROM analytics.summary_state")[0][0]


def _sales_total(admin: Any) -> list[list[Any]]:
    return admin.run(
        "SELECT orders, units FROM analytics.sales_summary WHERE breakdown = 'total' AND period = '-infinity'"
    )


def test_the_fold_action_folds_every_run_the_loads_left(
    pipeline: Any, runs: Any, make: Any, emitted_metrics: Any
) -> None:
    """Two load invocations outside Lambda (no request sent), then one fold action: it folds both runs."""
    admin = pipeline.warehouse.admin
    runs.commit(1, {**make.base_dimensions(), "fact_sales_order": [make.sales_order(1, units_sold=4)]})
    assert lambda_handler({}, None)["fold_requested"] is False  # no AWS_LAMBDA_FUNCTION_NAME here
    runs.commit(2, {"fact_sales_order": [make.sales_order(1, updated=LATER, units_sold=6), make.sales_order(2)]})
    assert lambda_handler({}, None)["run_seqs"] == [2]
    assert (_stamp(admin), _sales_total(admin)) == (None, [])  # the facts are loaded, the summaries trail
    emitted_metrics()
    answer = lambda_handler(dict(FOLD_EVENT), None)
    assert answer["action"] == FOLD_ACTION
    assert (answer["lock_acquired"], answer["summaries_run"], answer["folded_through"]) == (True, None, 2)
    assert (_stamp(admin), _sales_total(admin)) == (2, [[2, 16]])  # order 1 as of run 2 (6) + order 2 (10)
    (emf,) = emitted_metrics()
    assert (emf["SummaryFoldsCompleted"], emf["RunsFolded"]) == ([1.0], [2.0])
    assert emf["SummaryFoldDurationMs"][0] > 0
    assert "RunDurationMs" not in emf  # the load's own duration metric stays the load's
    again = lambda_handler({"action": FOLD_ACTION}, None)  # a duplicate event, or the schedule: a no-op
    assert (again["summaries_run"], again["folded_through"]) == (2, None)
    (emf,) = emitted_metrics()
    assert (emf["SummaryFoldsCompleted"], emf["RunsFolded"]) == ([1.0], [0.0])  # completed: the stale alarm


def test_a_failing_fold_action_raises_and_leaves_the_facts(
    pipeline: Any, runs: Any, make: Any, emitted_metrics: Any
) -> None:
    """The fold action's failure fails the invocation (Lambda retries the async event; the
    Errors alarm), counted; the load before it stays committed, and so do later loads."""
    admin = pipeline.warehouse.admin
    runs.commit(1, {**make.base_dimensions(), "fact_sales_order": [make.sales_order(1)]})
    lambda_handler({}, None)
    admin.run("ALTER TABLE analytics.sales_summary ADD CONSTRAINT an_analytics_bug CHECK (false) NOT VALID")
    try:
        emitted_metrics()
        with pytest.raises(SummaryFoldError, match="an_analytics_bug"):
            lambda_handler(dict(FOLD_EVENT), None)
        (emf,) = emitted_metrics()
        assert (emf["SummaryFoldsFailed"], emf["InvocationsFailed"], emf["failure_kind"]) == (
            [1.0],
            [1.0],
            "retriable",
        )
        assert "SummaryFoldsCompleted" not in emf
        runs.commit(2, {"fact_sales_order": [make.sales_order(2)]})
        assert lambda_handler({}, None)["run_seqs"] == [2]  # loads go on
    finally:
        admin.run("ALTER TABLE analytics.sales_summary DROP CONSTRAINT an_analytics_bug")
    assert admin.run("SELECT count(*) FROM fact_sales_order") == [[2]]
    assert lambda_handler(dict(FOLD_EVENT), None)["folded_through"] == 2
    assert _sales_total(admin) == [[2, 20]]


def test_a_load_that_committed_runs_asks_its_own_function_for_the_fold(
    pipeline: Any,
    deployed_handlers: Any,
    runs: Any,
    make: Any,
    invokes: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    emitted_metrics: Any,
) -> None:
    """In Lambda (AWS_LAMBDA_FUNCTION_NAME set) a load that committed a run sends
    {"action": "fold_summaries"} to its own function, asynchronously; one that committed
    nothing sends nothing. The load does not fold."""
    function = deployed_handlers.function_name("load")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", function)
    runs.commit(1, {**make.base_dimensions(), "fact_sales_order": [make.sales_order(1)]})
    answer = lambda_handler({}, None)
    assert (answer["run_seqs"], answer["fold_requested"]) == ([1], True)
    assert [(i["FunctionName"], i["InvocationType"], json.loads(i["Payload"])) for i in invokes] == [
        (function, "Event", {"action": "fold_summaries"})
    ]
    assert _stamp(pipeline.warehouse.admin) is None  # the fold is the requested invocation's
    invokes.clear()
    answer = lambda_handler({}, None)  # nothing pending
    assert (answer["runs_committed"], answer["fold_requested"]) == (0, False)
    assert invokes == []
    emitted = emitted_metrics()
    assert all("SummaryFoldRequestFailed" not in emf for emf in emitted)


def test_a_refused_fold_request_is_logged_and_counted_and_the_load_succeeds(
    pipeline: Any,
    runs: Any,
    make: Any,
    invokes: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    emitted_metrics: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Lambda refusing the request (here: no such function; in AWS also a missing permission
    or throttling) does not fail the load, whose run is committed: an ERROR line (the error-line
    alarm) and SummaryFoldRequestFailed; the next request or the schedule folds the run."""
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "no-such-function")
    runs.commit(1, {**make.base_dimensions(), "fact_sales_order": [make.sales_order(1)]})
    answer = lambda_handler({}, None)
    assert (answer["run_seqs"], answer["fold_requested"]) == ([1], False)
    assert len(invokes) == 1
    out = capsys.readouterr().out
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    (error,) = [line for line in lines if line.get("level") == "ERROR"]
    assert "fold could not be requested" in error["message"]
    assert "ResourceNotFoundException" in error["error"]
    (emf,) = [line for line in lines if "_aws" in line]
    assert emf["SummaryFoldRequestFailed"] == [1.0]
    assert "InvocationsFailed" not in emf
    assert pipeline.warehouse.admin.run("SELECT max(run_seq) FROM pipeline.load_ledger") == [[1]]
    assert lambda_handler(dict(FOLD_EVENT), None)["folded_through"] == 1


def test_totes_fold_summaries_outputs_folds_through_the_load_function(
    pipeline: Any, deployed_handlers: Any, write_outputs: Any, runs: Any, make: Any
) -> None:
    """An operator's fold (docs/operations.md): the deployed load function's fold action (in
    this process against moto), then a no-op that says the summaries are current."""
    stages = ("ingestion", "transform", "load")
    outputs = write_outputs(pipeline.resources, {stage: deployed_handlers.function_name(stage) for stage in stages})
    runs.commit(1, {**make.base_dimensions(), "fact_sales_order": [make.sales_order(1)]})
    lambda_handler({}, None)
    first = CliRunner().invoke(app, ["fold-summaries", "--outputs", str(outputs)])
    assert first.exit_code == 0, first.output
    assert re.search(r"folded runs 0 -> 1 in \d+ ms \(in-process ", first.output), first.output
    assert _stamp(pipeline.warehouse.admin) == 1
    again = CliRunner().invoke(app, ["fold-summaries", "--outputs", str(outputs)])
    assert again.exit_code == 0, again.output
    assert "the summaries are current: run 1" in again.output
