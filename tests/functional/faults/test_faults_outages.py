"""Outages of what the pipeline depends on: either database down or going away mid-run,
and SSM throttling or unreachable. Each run that cannot complete must fail (so it is
retried and alarms), commit nothing, and the pipeline must catch up once the
dependency is back."""

from __future__ import annotations

import dataclasses

import pytest
from botocore.exceptions import EndpointConnectionError

from common.db import connect
from common.s3_store import LakeStore
from load.errors import WarehouseLoadError
from load.run import LoadHooks, run_load


def test_source_database_down_during_ingestion(seeded) -> None:
    world = seeded
    world.simulate()
    real = world.pipeline.source.credentials
    world.set_secret("source", dataclasses.replace(real, port=world.closed_port()))
    down = world.cycle(ok=False)
    assert [i.error.split(":")[0] for i in down.failures] == ["SourceConnectionError"]
    assert down.failures[0].attempts == 3
    assert world.runs("ingest") == [1], "a failed run committed something"
    assert world.ssm_last_run_seq() == 1
    world.set_secret("source", real)
    world.cycle()
    world.verify()


def test_source_database_goes_away_mid_extraction(seeded, faults) -> None:
    """The server kills ingestion's backend after two table objects: the run fails with
    SourceQueryError, leaves orphans only, and the async retry extracts everything."""
    world = seeded
    world.simulate()
    ingest_bucket = world.pipeline.resources.ingest_bucket
    killed: list[int] = []
    fault = faults.add(
        "s3",
        "PutObject",
        match=lambda kw: kw["Bucket"] == ingest_bucket and kw["Key"].startswith("data/"),
        skip=2,
        action=lambda: killed.append(world.terminate_backends("totes-ingestion")),
    )
    cycle = world.cycle()
    assert fault.fired == 1
    assert killed == [1]
    ingestion = cycle.invocations[0]
    assert ingestion.attempts == 2, "the first attempt should have failed on the dead connection"
    world.verify()


def test_warehouse_down_during_load(seeded) -> None:
    world = seeded
    world.simulate()
    real = world.pipeline.warehouse.credentials
    world.set_secret("warehouse", dataclasses.replace(real, port=world.closed_port()))
    down = world.cycle(ok=False)
    assert [i.function for i in down.failures] == [world.functions["load"]]
    assert "WarehouseLoadError" in (down.failures[0].error or "")
    assert world.ledger() == [1]
    world.set_secret("warehouse", real)
    assert world.invoke("load", {}).result["run_seqs"] == [2]  # the scheduled sweep
    world.verify()


@pytest.mark.parametrize("hook", ["after_staging", "before_commit"])
def test_warehouse_goes_away_mid_load(seeded, hook: str) -> None:
    """The loader's backend is killed inside the run's transaction: nothing of the run is
    visible, the error is WarehouseLoadError (retriable), the next delivery loads it."""
    world = seeded
    world.simulate()
    assert world.invoke("ingestion").ok
    assert world.deliver("transform", "runs/0000000002.json").ok
    world.lose_pending_events()

    con = connect(world.pipeline.warehouse.credentials, application_name="totes-load-faults")

    def kill(_seq: int) -> None:
        assert world.terminate_backends("totes-load-faults") == 1

    processed = LakeStore(world.pipeline.resources.processed_bucket, world.pipeline.aws.s3)
    with pytest.raises(WarehouseLoadError):
        run_load(processed, con, hooks=LoadHooks(**{hook: kill}))
    assert world.ledger() == [1]
    assert world.deliver("load", "runs/0000000002.json").result["run_seqs"] == [2]
    world.verify()


def _unreachable(_message: str) -> BaseException:
    return EndpointConnectionError(endpoint_url="https://ssm.eu-west-2.amazonaws.com")


SSM_FAULTS = {
    # GetParameter throttled at the start: the run cannot know where it is, commits nothing.
    "GetParameter throttled": ("GetParameter", "throttled"),
    # PutParameter throttled after the manifest: committed, SSM behind; rolled forward next run.
    "PutParameter throttled": ("PutParameter", "throttled"),
    "SSM unreachable": ("GetParameter", "unreachable"),
}


@pytest.mark.parametrize("recovery", ["retry", pytest.param("next cycle", marks=pytest.mark.slow)])
@pytest.mark.parametrize("kind", list(SSM_FAULTS))
def test_ssm_throttled_or_unavailable(seeded, faults, kind: str, recovery: str) -> None:
    world = seeded
    world.simulate()
    operation, how = SSM_FAULTS[kind]
    error = faults.throttling(operation) if how == "throttled" else _unreachable
    times = 1 if recovery == "retry" else 3
    fault = faults.add("ssm", operation, error=error, times=times)
    cycle = world.cycle(ok=recovery == "retry")
    assert fault.fired == times
    ingestion = cycle.invocations[0]
    if recovery == "retry":
        assert ingestion.attempts == 2
    else:
        assert ingestion.error is not None
        assert ingestion.error.startswith("StateError")
        if operation == "GetParameter":
            assert world.runs("ingest") == [1], "a run that could not read its state committed"
        world.cycle()
    world.verify()
