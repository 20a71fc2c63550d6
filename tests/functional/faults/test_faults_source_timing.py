"""The source's clock against the pipeline's windows: a transaction that commits late with
an old ``last_updated``, and 1,000 rows sharing one ``last_updated`` split across
ingestion's fetch batches, transform's parse blocks, load's COPY batches and a run
boundary."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

import ingestion.extract
from common.db import connect
from common.s3_store import LakeStore
from load.run import run_load
from transform.run import run_transform

SALES_COLUMNS = (
    "design_id, staff_id, counterparty_id, units_sold, unit_price, currency_id,"
    " agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id"
)


def _source_now() -> datetime:
    """Now as the source stores it: naive UTC, milliseconds."""
    now = datetime.now(UTC).replace(tzinfo=None)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _copy_sales_orders(con, n: int, stamp: datetime) -> list[int]:
    """Insert ``n`` sales orders (copies of order 1 with other units) stamped ``stamp``."""
    rows = con.run(
        f"INSERT INTO sales_order ({SALES_COLUMNS}, created_at, last_updated)"
        f" SELECT design_id, staff_id, counterparty_id, units_sold + g, unit_price, currency_id,"
        f" agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id, :t, :t"
        f" FROM sales_order, generate_series(1, :n) AS g WHERE sales_order_id = 1 RETURNING sales_order_id",
        t=stamp,
        n=n,
    )
    return [r[0] for r in rows]


def _in_warehouse(world, ids: list[int]) -> int:
    wh = world.pipeline.warehouse.admin
    return wh.run("SELECT count(DISTINCT sales_order_id) FROM fact_sales_order WHERE sales_order_id = ANY(:i)", i=ids)[
        0
    ][0]


@pytest.mark.parametrize("runs_missed", [1, 2], ids=["commits after 1 run", "commits after 2 runs"])
def test_a_late_committing_transaction_with_an_old_last_updated(seeded, runs_missed: int) -> None:
    """A transaction stamps its rows two minutes ago but commits after one (or two) runs
    read past them: the next run's look-back must still bring every one of them in, and
    the dedup of rows already emitted must not drop them (with two runs missed, the
    look-back spans both runs' windows, so the recent keys are carried forward)."""
    world = seeded
    late = world.stack.postgres.connect(world.pipeline.source.name)
    try:
        stamp = _source_now() - timedelta(minutes=2)
        late.run("START TRANSACTION")
        new_ids = _copy_sales_orders(late, 3, stamp)
        late.run(
            "UPDATE sales_order SET units_sold = units_sold + 7, last_updated = :t WHERE sales_order_id = 2", t=stamp
        )
        late.run("UPDATE staff SET last_name = 'Latecomer', last_updated = :t WHERE staff_id = 1", t=stamp)
        for _ in range(runs_missed):
            world.simulate()  # other work commits meanwhile, stamped now
            world.cycle()  # its window ends after ``stamp`` but the rows are not visible
        assert _in_warehouse(world, new_ids) == 0, "the late rows were visible early: the test proves nothing"
        late.run("COMMIT")
    finally:
        late.close()
    world.cycle()  # the look-back part of this run's window re-reads ``stamp``
    assert _in_warehouse(world, new_ids) == 3
    dim = world.pipeline.warehouse.admin.run("SELECT last_name FROM dim_staff WHERE staff_id = 1")
    assert dim == [["Latecomer"]]
    world.verify()


@pytest.mark.parametrize("late_rows", [0, 500], ids=["all committed", "half committed late"])
def test_1000_rows_sharing_one_timestamp_across_batch_boundaries(seeded, monkeypatch, late_rows: int) -> None:
    """1,000 sales orders with one ``last_updated``. Batch sizes are set below 1,000
    everywhere a stage has one: ingestion's cursor FETCH (a module constant, 300 here),
    transform's parse block (``block_bytes``, 32 KiB ~ 100 lines) and load's COPY batch
    (``batch_rows``, 256). With ``late_rows`` the second half commits after a run has
    already read the first half at that same instant."""
    world = seeded
    monkeypatch.setattr(ingestion.extract, "FILTERED_BLOCK_ROWS", 300)
    res, s3 = world.pipeline.resources, world.pipeline.aws.s3
    ingest, processed = LakeStore(res.ingest_bucket, s3), LakeStore(res.processed_bucket, s3)

    def one_run() -> None:
        assert world.invoke("ingestion").ok
        run_transform(ingest, processed, block_bytes=32 << 10)
        con = connect(world.pipeline.warehouse.credentials, application_name="totes-load")
        try:
            run_load(processed, con, batch_rows=256)
        finally:
            con.close()

    stamp = _source_now() - timedelta(seconds=1)
    ids = _copy_sales_orders(world.admin, 1000 - late_rows, stamp)
    late = world.stack.postgres.connect(world.pipeline.source.name)
    try:
        late.run("START TRANSACTION")
        ids += _copy_sales_orders(late, late_rows, stamp) if late_rows else []
        one_run()
        assert _in_warehouse(world, ids) == 1000 - late_rows
        late.run("COMMIT")
    finally:
        late.close()
    one_run()
    assert len(ids) == 1000
    assert _in_warehouse(world, ids) == 1000
    # The rows were split across batches (this is what the test is about).
    rows_run2 = world.manifest(2)["tables"]["sales_order"]["rows"]
    assert rows_run2 == 1000 - late_rows
    world.runner.mark_all_seen()
    world.verify()


def test_a_row_stamped_in_the_future_raises_the_metric_and_shows_in_status(seeded) -> None:
    """A sales order stamped 2099 is outside every window until 2099: the old code said nothing.
    Now every run counts it (WARNING naming table and key, the FutureRows metric behind the
    alarm, the manifest and `totes status`); rows a minute ahead, within the tolerance, are
    not reported, and both arrive once their time comes."""
    from ops.status import collect_status

    world = seeded
    [far] = _copy_sales_orders(world.admin, 1, datetime(2099, 1, 1))
    [soon] = _copy_sales_orders(world.admin, 1, _source_now() + timedelta(minutes=1))
    world.cycle()

    log = world.log.getvalue().splitlines()
    warnings = [json.loads(line) for line in log if "stamped in the future" in line]
    assert [(w["level"], w["table"], w["rows"], w["keys"]) for w in warnings] == [
        ("WARNING", "sales_order", 1, [f"sales_order_id={far} last_updated=2099-01-01T00:00:00.000"])
    ]
    emf = [json.loads(line) for line in log if '"_aws"' in line and '"FutureRows"' in line]
    assert [m["FutureRows"] for m in emf] == [[0.0], [1.0]]  # the seeding cycle's run 1, then run 2
    manifest = world.manifest(2)
    assert manifest["future_rows"] == {"sales_order": {"rows": 1, "keys": [[far, "2099-01-01T00:00:00.000"]]}}

    p = world.pipeline
    status = collect_status(s3=p.aws.s3, ssm=p.aws.ssm, resources=p.resources, warehouse=p.warehouse.admin)
    assert status.future_rows == manifest["future_rows"]
    assert _in_warehouse(world, [far]) == 0

    # Their time comes (here: the clock is corrected): the next run ingests them like any other.
    world.admin.run(
        "UPDATE sales_order SET last_updated = now() AT TIME ZONE 'UTC' - interval '1 second'"
        " WHERE sales_order_id = ANY(:i)",
        i=[far, soon],
    )
    world.cycle()
    assert world.manifest(3)["future_rows"] == {}
    assert _in_warehouse(world, [far, soon]) == 2
    world.verify()
