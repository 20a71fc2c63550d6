"""Two runs of a stage at once. Interleavings are forced at a chosen point (a boundary
call of one run starts the other) rather than left to thread timing, so each test
exercises exactly the race it names, every time."""

from __future__ import annotations

import threading
from typing import Any

from common.db import connect
from common.s3_store import LakeStore
from load.run import LoadHooks, LoadResult, run_load


def test_two_ingestion_runs_at_once_one_commits_each_seq(seeded, faults) -> None:
    """B starts and commits while A is about to write its manifest for the same seq; A finds
    the seq taken, is superseded, leaves only orphans; nothing is lost or doubled."""
    world = seeded
    world.simulate()
    ingest_bucket = world.pipeline.resources.ingest_bucket
    other: list[Any] = []

    def run_b() -> None:
        world.simulate()  # B also sees changes A's snapshot does not have
        other.append(world.invoke("ingestion"))

    fault = faults.add(
        "s3",
        "PutObject",
        match=lambda kw: kw["Bucket"] == ingest_bucket and kw["Key"] == "runs/0000000002.json",
        action=run_b,
    )
    a = world.invoke("ingestion")
    assert fault.fired == 1
    assert other[0].result["status"] == "committed"
    assert other[0].result["run_seq"] == 2
    assert a.ok
    assert a.result["status"] == "superseded"
    assert a.result["run_seq"] == 2
    assert world.runs("ingest") == [1, 2]
    world.cycle(schedule=False)  # deliver what is pending
    world.cycle()  # and a normal scheduled run after it
    assert world.ssm_last_run_seq() == 3
    world.verify()


def test_two_ingestion_runs_overlapping_at_the_ssm_update(seeded, faults) -> None:
    """A commits seq 2; before A updates SSM, B runs whole (rolls forward over 2, commits 3).
    A's late SSM write must not move SSM back to 2."""
    world = seeded
    world.simulate()
    other: list[Any] = []

    def run_b() -> None:
        world.simulate()
        other.append(world.invoke("ingestion"))

    fault = faults.add("ssm", "PutParameter", action=run_b)
    a = world.invoke("ingestion")
    assert fault.fired == 1
    assert a.result["run_seq"] == 2
    assert a.result["status"] == "committed"
    assert other[0].result["run_seq"] == 3
    assert world.ssm_last_run_seq() == 3, "a slower run moved SSM backwards"
    world.cycle(schedule=False)
    world.cycle()
    world.verify()


def test_two_loads_at_once_are_serialised(seeded) -> None:
    """Load A holds the run's transaction open (after staging); B starts on another
    connection and must wait for A's lock, then find nothing left to do."""
    world = seeded
    world.simulate()
    assert world.invoke("ingestion").ok
    assert world.deliver("transform", "runs/0000000002.json").ok
    world.lose_pending_events()
    processed = LakeStore(world.pipeline.resources.processed_bucket, world.pipeline.aws.s3)
    creds = world.pipeline.warehouse.credentials
    results: dict[str, LoadResult] = {}

    def load_b() -> None:
        con = connect(creds, application_name="totes-load-b")
        try:
            results["b"] = run_load(processed, con)
        finally:
            con.close()

    thread = threading.Thread(target=load_b)

    def start_b_and_wait_until_it_blocks(_seq: int) -> None:
        thread.start()
        # B is waiting on the advisory lock A holds (a condition, not a sleep).
        query = (
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'totes-load-b'"
            " AND wait_event_type = 'Lock' AND wait_event = 'advisory'"
        )
        for _ in range(10_000):
            if world.pipeline.warehouse.admin.run(query)[0][0] == 1:
                return
            threading.Event().wait(0.01)
        raise AssertionError("load B never waited for the lock")

    con = connect(creds, application_name="totes-load-a")
    try:
        results["a"] = run_load(processed, con, hooks=LoadHooks(after_staging=start_b_and_wait_until_it_blocks))
    finally:
        con.close()
    thread.join()
    assert [r.run_seq for r in results["a"].runs] == [2]
    assert results["b"].lock_acquired
    assert results["b"].runs == ()
    world.verify()
