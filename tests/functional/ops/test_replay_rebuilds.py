"""Replay and backfill rebuild an emptied warehouse to the same content, through the real
stages (wired by hand in moto, as Terraform wires them: prefix runs/, suffix .json)."""

from __future__ import annotations

import pytest

from local.generator import seed_database
from local.moto_server import REGION
from ops.reconcile import reconcile
from ops.replay import STAR_TABLES, replay


@pytest.fixture
def deployed(pipeline, deployed_handlers):
    """The real handlers deployed to moto with the S3 notification wiring of terraform/events.tf."""
    lam, name = deployed_handlers.lambda_client, deployed_handlers.prefix
    runner = deployed_handlers.runner(pipeline)
    seed_database(pipeline.source.admin, seed=3, scale=0.05)
    cycle = runner.run_cycle()
    assert cycle.ok, [(i.function, i.error) for i in cycle.failures]
    return pipeline, lam, name


def _snapshot(con) -> dict[str, list[tuple]]:
    """Every star table's rows without surrogate keys (they are renumbered by a rebuild)."""
    out = {}
    for table in STAR_TABLES:
        rows = con.run(f"SELECT * FROM {table}")
        names = [c["name"] for c in con.columns]
        keep = [i for i, n in enumerate(names) if not n.endswith("_record_id")]
        out[table] = sorted(tuple(str(r[i]) for i in keep) for r in rows)
    return out


def _reconciled(pipeline) -> bool:
    src, wh = pipeline.source.connect(), pipeline.warehouse.connect()
    try:
        return reconcile(src, wh).ok
    finally:
        src.close()
        wh.close()


@pytest.mark.parametrize("mode", ["retransform", "reload"])
def test_replay_rebuilds_an_emptied_warehouse(deployed, mode) -> None:
    pipeline, lam, name = deployed
    wh = pipeline.warehouse.connect()
    try:
        before = _snapshot(wh)
        assert before["fact_sales_order"]
        wh.run(f"TRUNCATE {', '.join(STAR_TABLES)}, pipeline.load_ledger")
        ingest_keys = {
            o["Key"]: o["ETag"]
            for o in pipeline.aws.s3.list_objects_v2(Bucket=pipeline.resources.ingest_bucket)["Contents"]
        }
        result = replay(
            warehouse=wh,
            lambda_client=lam,
            s3=pipeline.aws.s3,
            processed_bucket=pipeline.resources.processed_bucket,
            transform_function=f"{name}-transform",
            load_function=f"{name}-load",
            mode=mode,
            region=REGION,
        )
        assert _snapshot(wh) == before
        assert wh.run("SELECT count(*) FROM pipeline.load_ledger") == [[1]]
    finally:
        wh.close()
    assert _reconciled(pipeline)
    after_keys = {
        o["Key"]: o["ETag"]
        for o in pipeline.aws.s3.list_objects_v2(Bucket=pipeline.resources.ingest_bucket)["Contents"]
    }
    assert after_keys == ingest_keys  # the lake was read, never written
    if mode == "retransform":
        assert result.processed_bucket != pipeline.resources.processed_bucket


def test_backfill_from_a_run_restores_deleted_facts(deployed) -> None:
    pipeline, lam, name = deployed
    wh = pipeline.warehouse.connect()
    try:
        before = _snapshot(wh)
        wh.run("DELETE FROM fact_payment WHERE payment_id % 2 = 0")
        assert not _reconciled(pipeline)
        replay(
            warehouse=wh,
            lambda_client=lam,
            s3=pipeline.aws.s3,
            processed_bucket=pipeline.resources.processed_bucket,
            transform_function=f"{name}-transform",
            load_function=f"{name}-load",
            mode="reload",
            from_run=1,
        )
        assert _snapshot(wh) == before
    finally:
        wh.close()
    assert _reconciled(pipeline)
