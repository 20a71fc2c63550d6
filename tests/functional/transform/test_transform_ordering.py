"""Runs apply in order: duplicate events, lost events, out-of-order events, gaps, races."""

from __future__ import annotations

import boto3

from common.s3_store import LakeStore
from lake.keys import run_key
from transform.handler import lambda_handler
from transform.run import run_transform


def _event(bucket: str, seq: int) -> dict:
    return {"Records": [{"eventSource": "aws:s3", "s3": {"bucket": {"name": bucket}, "object": {"key": run_key(seq)}}}]}


def test_event_for_n_with_n_minus_1_pending_does_both_in_order(lake, pipeline) -> None:
    r = lake.row
    lake.commit_ingest(1, lake.base_rows())
    lake.commit_ingest(2, {"sales_order": [r("sales_order", 1)]})

    summary = lambda_handler(_event(pipeline.resources.ingest_bucket, 2), None)

    assert summary["runs_committed"] == [1, 2]
    assert lake.commit_record(2)["tables"]["fact_sales_order"]["rows"] == 1


def test_duplicate_event_is_a_no_op(lake, pipeline) -> None:
    lake.commit_ingest(1, lake.base_rows())
    event = _event(pipeline.resources.ingest_bucket, 1)
    lambda_handler(event, None)
    before = sorted(lake.processed.list_keys(""))

    summary = lambda_handler(event, None)

    assert summary["runs_committed"] == []
    assert sorted(lake.processed.list_keys("")) == before


def test_lost_event_heals_on_next_trigger(lake, pipeline) -> None:
    lake.commit_ingest(1, lake.base_rows())
    lambda_handler({}, None)
    lake.commit_ingest(2, {"design": [lake.row("design", 2)]})  # its event is lost
    lake.commit_ingest(3, {"design": [lake.row("design", 3)]})

    summary = lambda_handler(_event(pipeline.resources.ingest_bucket, 3), None)

    assert summary["runs_committed"] == [2, 3]
    assert [d["design_id"] for d in lake.rows(2, "dim_design")] == [2]


def test_sequence_gap_is_counted_and_skipped(lake, pipeline, emitted_metrics) -> None:
    lake.commit_ingest(1, lake.base_rows())
    lake.commit_ingest(3, {"design": [lake.row("design", 3)]})

    summary = lambda_handler({}, None)

    assert summary["runs_committed"] == [1, 3]
    assert summary["sequence_gaps"] == [2]
    emf = emitted_metrics()
    assert emf[-1]["SequenceGaps"] == [1.0]
    # Run 3 built on run 1's state.
    assert lake.commit_record(3)["snapshots"]["address"] == lake.commit_record(1)["snapshots"]["address"]


def test_concurrent_invocation_loses_quietly_and_commits_nothing(lake, pipeline) -> None:
    """The winner commits run 1 while the loser is between its work and its commit."""
    lake.commit_ingest(1, lake.base_rows())
    winner_store = LakeStore(pipeline.resources.processed_bucket, boto3.client("s3"))
    loser_client = boto3.client("s3")
    raced = []

    def winner_commits_first(params, **_kwargs) -> None:
        # A hook on the AWS SDK boundary: just before the loser writes its commit
        # record, a whole other invocation runs and commits.
        if params.get("Key") == run_key(1) and not raced:
            raced.append(run_transform(lake.ingest, winner_store))

    loser_client.meta.events.register("before-parameter-build.s3.PutObject", winner_commits_first)
    loser = run_transform(lake.ingest, LakeStore(pipeline.resources.processed_bucket, loser_client))

    assert raced[0].runs_committed == [1]
    assert loser.runs_committed == []
    assert loser.lost_race_at == 1
    record = lake.commit_record(1)
    assert record["attempt"] != ""
    # The commit record names only the winner's objects.
    for entry in record["tables"].values():
        assert entry["key"] is None or entry["key"].endswith(f"-{record['attempt']}.parquet")


def test_empty_ingestion_run_is_committed_as_a_heartbeat(lake) -> None:
    lake.commit_ingest(1, lake.base_rows())
    lake.commit_ingest(2, {})

    result = run_transform(lake.ingest, lake.processed)

    assert result.runs_committed == [1, 2]
    record = lake.commit_record(2)
    assert all(entry == {"key": None, "rows": 0} for entry in record["tables"].values())
    assert len(record["tables"]) == 11
    assert record["snapshots"] == lake.commit_record(1)["snapshots"]
