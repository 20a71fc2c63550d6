"""A crash at every step boundary of every stage, then recovery the at-least-once way.

Each case: a seeded pipeline (run 1 loaded), a batch of source changes, then a cycle in
which the process "dies" at one boundary (the boto3 call there raises). Recovery is
either Lambda's asynchronous retry of the same event (``retry``: the fault fires once)
or, when every attempt died and the event went to the failure queue, the next
scheduled cycle (``next cycle``). The verdict is ``World.verify``: reconcile clean,
every committed fact version loaded exactly once, no lake object overwritten, every
stage caught up.

Load's boundaries inside its database transaction use the stage's own seams
(``load.run.LoadHooks``), called through ``run_load`` as the handler calls it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from common.db import connect
from common.s3_store import LakeStore
from load.run import LoadHooks, run_load


class CrashInsideLoadError(Exception):
    """The load Lambda dying inside its transaction (raised from the stage's hook)."""


# (stage, service, operation, match on the call, when, matching calls let through first)
CrashPoint = tuple[str, str, str, Callable[[Any, dict[str, Any]], bool], str, int]


def _ingest_put(prefix: str) -> Callable[[Any, dict[str, Any]], bool]:
    return lambda w, kw: kw["Bucket"] == w.pipeline.resources.ingest_bucket and kw["Key"].startswith(prefix)


def _processed_put(prefix: str) -> Callable[[Any, dict[str, Any]], bool]:
    return lambda w, kw: kw["Bucket"] == w.pipeline.resources.processed_bucket and kw["Key"].startswith(prefix)


def _ssm(leaf: str) -> Callable[[Any, dict[str, Any]], bool]:
    return lambda w, kw: kw["Name"].endswith(leaf)


CRASH_POINTS: dict[str, CrashPoint] = {
    # ingestion: data objects, recent keys, manifest (the commit), SSM watermarks, SSM seq
    "ingestion: before the first table object": ("ingestion", "s3", "PutObject", _ingest_put("data/"), "before", 0),
    "ingestion: after 2 table objects": ("ingestion", "s3", "PutObject", _ingest_put("data/"), "before", 2),
    "ingestion: after the table objects, before recent keys": (
        "ingestion", "s3", "PutObject", _ingest_put("state/"), "before", 0),
    "ingestion: after recent keys, before the manifest": (
        "ingestion", "s3", "PutObject", _ingest_put("runs/"), "before", 0),
    "ingestion: after the manifest, before SSM": (
        "ingestion", "ssm", "PutParameter", _ssm("/watermarks"), "before", 0),
    "ingestion: between the two SSM puts": ("ingestion", "ssm", "PutParameter", _ssm("/last_run_seq"), "before", 0),
    "ingestion: after SSM, before returning": ("ingestion", "ssm", "PutParameter", _ssm("/last_run_seq"), "after", 0),
    # transform: Parquet per warehouse table, snapshots, commit record
    "transform: before the first Parquet": ("transform", "s3", "PutObject", _processed_put("tables/"), "before", 0),
    "transform: after 3 Parquet objects": ("transform", "s3", "PutObject", _processed_put("tables/"), "before", 3),
    "transform: after the Parquet, before the snapshots": (
        "transform", "s3", "PutObject", _processed_put("snapshot/"), "before", 0),
    "transform: after the snapshots, before the commit record": (
        "transform", "s3", "PutObject", _processed_put("runs/"), "before", 0),
    "transform: after the commit record": ("transform", "s3", "PutObject", _processed_put("runs/"), "after", 0),
    # load: the downloads happen before its transaction opens
    "load: downloading the Parquet, before BEGIN": (
        "load", "s3", "GetObject", lambda w, kw: kw["Key"].startswith("tables/"), "before", 1),
}  # fmt: skip

# Every point recovers by the retry (default run). These also by the next schedule after
# all three attempts died: points where state is half-written (slow: one more cycle). A
# crash *after* a commit is not among them: the retry finds nothing pending, so the
# event is never dead-lettered (the retry case covers it).
NEXT_CYCLE = (
    "ingestion: after recent keys, before the manifest",
    "ingestion: after the manifest, before SSM",
    "transform: after the snapshots, before the commit record",
    "transform: after 3 Parquet objects",
    "load: downloading the Parquet, before BEGIN",
)


def _cases() -> list[Any]:
    cases = [pytest.param(point, "retry", id=f"{point} -> retry") for point in CRASH_POINTS]
    cases += [
        pytest.param(point, "next cycle", id=f"{point} -> next cycle", marks=pytest.mark.slow) for point in NEXT_CYCLE
    ]
    return cases


@pytest.mark.parametrize(("point", "recovery"), _cases())
def test_a_crash_at_a_step_boundary_loses_nothing(seeded, faults, point: str, recovery: str) -> None:
    world = seeded
    stage, service, operation, match, when, skip = CRASH_POINTS[point]
    changes = world.simulate()
    # retry: the first attempt dies, Lambda's retry succeeds. next cycle: all three
    # attempts die (the event is dead-lettered) and the next schedule must heal it.
    times = 1 if recovery == "retry" else 3
    fault = faults.add(service, operation, match=lambda kw: match(world, kw), when=when, skip=skip, times=times)

    cycle = world.cycle(ok=recovery == "retry")
    assert fault.fired == times, f"the fault at {point!r} fired {fault.fired} times, not {times}"
    crashed = [i for i in cycle.invocations if i.function == world.functions[stage]]
    if recovery == "retry":
        assert any(i.attempts == 2 for i in crashed), "the retry is what recovered"
    else:
        assert any(i.error and "injected fault" in i.error for i in crashed), cycle.invocations
        world.cycle()  # the next schedule; the fault is spent
    world.verify()
    # The batch's changes are in the warehouse (verify checks every row; this names them).
    wh = world.pipeline.warehouse.admin
    for so_id in changes.inserted["sales_order"]:
        assert wh.run("SELECT count(*) FROM fact_sales_order WHERE sales_order_id = :i", i=so_id) == [[1]]


def _pending_processed_run(world) -> int:
    """Ingest and transform the next batch of changes, leaving its load pending (event lost)."""
    world.simulate()
    assert world.invoke("ingestion").ok
    seq = world.runs("ingest")[-1]
    assert world.deliver("transform", f"runs/{seq:010d}.json").ok
    world.lose_pending_events()
    assert world.runs("processed")[-1] == seq
    assert world.ledger()[-1] < seq, "the load event was lost: run not loaded yet"
    return seq


def _star_counts(world) -> dict[str, int]:
    wh = world.pipeline.warehouse.admin
    tables = [r[0] for r in wh.run("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]
    return {t: wh.run(f'SELECT count(*) FROM "{t}"')[0][0] for t in tables}


def _crash(seq: int) -> None:
    raise CrashInsideLoadError(f"crash inside load's transaction of run {seq}")


@pytest.mark.parametrize(
    ("hook", "recovery"),
    [
        ("after_staging", "retry"),
        ("before_commit", "retry"),
        pytest.param("before_commit", "sweep", marks=pytest.mark.slow),
    ],
)
def test_a_crash_inside_the_load_transaction_leaves_nothing_behind(seeded, hook: str, recovery: str) -> None:
    """after_staging: rows are in staging, nothing upserted; before_commit: every row and
    the ledger row written, COMMIT not yet sent. Either way the run must vanish entirely."""
    world = seeded
    seq = _pending_processed_run(world)
    before = _star_counts(world)
    creds = world.pipeline.warehouse.credentials
    con = connect(creds, application_name="totes-load")
    processed = LakeStore(world.pipeline.resources.processed_bucket, world.pipeline.aws.s3)
    try:
        with pytest.raises(CrashInsideLoadError):
            run_load(processed, con, hooks=LoadHooks(**{hook: _crash}))
    finally:
        con.close()
    assert _star_counts(world) == before, "a crashed load left rows behind"
    assert world.ledger()[-1] == seq - 1
    if recovery == "retry":  # the same S3 event, delivered again
        assert world.deliver("load", f"runs/{seq:010d}.json").ok
    else:  # the scheduled sweep
        assert world.invoke("load", {}).ok
    world.verify()


def test_a_crash_after_committing_one_of_two_pending_runs(seeded, faults) -> None:
    """Load commits run 2, dies fetching run 3; the retry resumes at run 3, not at run 2."""
    world = seeded
    first = _pending_processed_run(world)
    second = _pending_processed_run(world)
    fault = faults.add("s3", "GetObject", match=lambda kw: kw["Key"] == f"runs/{second:010d}.json")
    failed = world.invoke("load", {})
    assert not failed.ok
    assert "InjectedCrashError" in (failed.error or "")
    assert fault.fired == 1
    assert world.ledger()[-1] == first, "the run before the crash stays committed"
    retried = world.invoke("load", {})
    assert retried.ok
    assert retried.result["run_seqs"] == [second]
    world.verify()
