"""The verdict every fault scenario ends with must itself be able to fail: a lost fact
row, a fact version no ingestion run carried, an overwritten lake object and a stage
that did not catch up are each caught."""

from __future__ import annotations

import pytest


def test_the_verdict_catches_loss_invention_overwrite_and_lag(seeded) -> None:
    world = seeded
    world.verify()
    wh = world.pipeline.warehouse.admin
    cols = [r[0] for r in wh.run(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'fact_payment'"
        " AND column_name <> 'payment_record_id' ORDER BY ordinal_position"
    )]  # fmt: skip
    col_list = ", ".join(cols)
    saved = wh.run(f"SELECT {col_list} FROM fact_payment ORDER BY payment_id LIMIT 1")[0]
    params = {f"p{i}": v for i, v in enumerate(saved)}
    values = ", ".join(f":p{i}" for i in range(len(saved)))

    wh.run("DELETE FROM fact_payment WHERE payment_id = :i", i=saved[0])
    with pytest.raises(AssertionError, match="fact_payment"):
        world.verify()
    wh.run(f"INSERT INTO fact_payment ({col_list}) VALUES ({values})", **params)
    world.verify()

    wh.run("UPDATE fact_payment SET last_updated_time = '00:00:00.001' WHERE payment_id = :i", i=saved[0])
    with pytest.raises(AssertionError, match="fact_payment"):
        world.verify()
    wh.run("DELETE FROM fact_payment WHERE payment_id = :i", i=saved[0])
    wh.run(f"INSERT INTO fact_payment ({col_list}) VALUES ({values})", **params)
    world.verify()

    # Even rewriting the very same bytes is an overwrite (a new version of the key).
    key = "runs/0000000001.json"
    same = world.store("ingest").get_bytes(key)
    world.pipeline.aws.s3.put_object(Bucket=world.pipeline.resources.ingest_bucket, Key=key, Body=same)
    with pytest.raises(AssertionError, match="overwritten"):
        world.verify()


def test_the_verdict_catches_a_stage_that_did_not_catch_up(seeded) -> None:
    world = seeded
    assert world.invoke("ingestion").ok  # an empty run (heartbeat): reconcile alone would pass
    world.lose_pending_events()
    with pytest.raises(AssertionError, match="did not catch up"):
        world.verify()
