"""At-least-once events: delivered twice (one after the other, or racing), out of order,
or never. Transform and load only take the event as a wake-up call and work out the
pending runs themselves (docs/architecture.md, Handlers), so none of this may change
the outcome."""

from __future__ import annotations

import pytest


def _run_key(seq: int) -> str:
    return f"runs/{seq:010d}.json"


def test_every_event_delivered_twice(seeded) -> None:
    world = seeded
    for _ in range(2):
        world.simulate()
        ingest = world.invoke("ingestion")
        assert ingest.ok
        seq = ingest.result["run_seq"]
        first, again = world.deliver("transform", _run_key(seq)), world.deliver("transform", _run_key(seq))
        assert first.result["runs_committed"] == [seq]
        assert again.ok
        assert again.result["runs_committed"] == [], "a duplicate transform event did work"
        first, again = world.deliver("load", _run_key(seq)), world.deliver("load", _run_key(seq))
        assert first.result["run_seqs"] == [seq]
        assert again.ok
        assert again.result["run_seqs"] == [], "a duplicate load event did work"
    # And every event of the pipeline's life once more, long after the fact.
    for seq in world.runs("ingest"):
        assert world.deliver("transform", _run_key(seq)).result["runs_committed"] == []
        assert world.deliver("load", _run_key(seq)).result["run_seqs"] == []
    world.verify()


def test_a_duplicate_transform_event_racing_the_first(seeded, faults) -> None:
    """The second delivery runs to completion while the first is about to write its commit
    record: exactly one commit record, the loser stops quietly, its objects are orphans."""
    world = seeded
    world.simulate()
    seq = world.invoke("ingestion").result["run_seq"]
    world.lose_pending_events()
    racer: list = []
    processed = world.pipeline.resources.processed_bucket
    fault = faults.add(
        "s3",
        "PutObject",
        match=lambda kw: kw["Bucket"] == processed and kw["Key"] == _run_key(seq),
        action=lambda: racer.append(world.deliver("transform", _run_key(seq))),
    )
    loser = world.deliver("transform", _run_key(seq))
    assert fault.fired == 1
    assert racer[0].result["runs_committed"] == [seq]
    assert loser.ok
    assert loser.result["lost_race_at"] == seq
    assert loser.result["runs_committed"] == []
    assert world.invoke("load", {}).result["run_seqs"] == [seq]
    world.verify()


def test_events_out_of_order(seeded) -> None:
    """Three runs whose events arrive newest first (and the oldest long after)."""
    world = seeded
    seqs = []
    for _ in range(3):
        world.simulate()
        seqs.append(world.invoke("ingestion").result["run_seq"])
    world.lose_pending_events()
    newest, middle, oldest = seqs[2], seqs[1], seqs[0]
    assert world.deliver("transform", _run_key(newest)).result["runs_committed"] == seqs
    assert world.deliver("transform", _run_key(oldest)).result["runs_committed"] == []
    assert world.deliver("transform", _run_key(middle)).result["runs_committed"] == []
    assert world.deliver("load", _run_key(middle)).result["run_seqs"] == seqs
    assert world.deliver("load", _run_key(newest)).result["run_seqs"] == []
    assert world.deliver("load", _run_key(oldest)).result["run_seqs"] == []
    world.verify()


@pytest.mark.parametrize("lost", ["transform", "load"])
def test_a_lost_event_heals_on_the_next_trigger(seeded, lost: str) -> None:
    world = seeded
    world.simulate()
    seq = world.invoke("ingestion").result["run_seq"]
    if lost == "load":
        assert world.deliver("transform", _run_key(seq)).ok
    world.lose_pending_events()  # the event for run 2 (transform's or load's) never comes
    world.simulate()
    world.cycle()  # run 3's events wake both stages; each catches up on run 2 first
    assert world.ledger() == [1, seq, seq + 1]
    world.verify()


def test_a_lost_event_heals_by_a_sweep(seeded) -> None:
    """No later trigger: the scheduled sweep ``{}`` (load) and a sweep of transform heal it."""
    world = seeded
    world.simulate()
    seq = world.invoke("ingestion").result["run_seq"]
    world.lose_pending_events()
    assert world.invoke("load", {}).result["run_seqs"] == []  # nothing processed yet
    assert world.invoke("transform", {}).result["runs_committed"] == [seq]
    world.lose_pending_events()
    assert world.invoke("load", {}).result["run_seqs"] == [seq]
    world.verify()
