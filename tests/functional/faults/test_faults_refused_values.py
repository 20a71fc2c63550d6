"""Bad data never freezes the pipeline (issue 18): a value the warehouse cannot hold costs
its own row, never the runs after it.

* a source date in year 0 (Arrow's date parser takes it, PostgreSQL refuses it): transform
  quarantines it, later runs load;
* a value the warehouse refuses at load time (a CHECK a DBA added): load quarantines the
  row in ``pipeline.load_quarantine``, commits the rest of the run, later runs load;
* ``totes replay`` / ``backfill`` over such a run succeed and end with a plain message.

On the old code the first two froze loading for good (every later cycle failed on the same
run) and replay ended in a traceback.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from typer.testing import CliRunner

from cli.main import app
from lake.keys import run_key

POISON_UNITS = 4242


def _new_order(admin: Any, **values: str) -> int:
    """A sales order copied from order 1 with some text columns replaced; stamped a second ago."""
    delivery = values.get("agreed_delivery_date", "2025-01-01")
    return int(
        admin.run(
            "INSERT INTO sales_order (design_id, staff_id, counterparty_id, units_sold, unit_price, currency_id,"
            " agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id, last_updated)"
            " SELECT design_id, staff_id, counterparty_id, units_sold, unit_price, currency_id, :delivery,"
            " agreed_payment_date, agreed_delivery_location_id, now() AT TIME ZONE 'UTC' - interval '1 second'"
            " FROM sales_order WHERE sales_order_id = 1 RETURNING sales_order_id",
            delivery=delivery,
        )[0][0]
    )


def test_a_year_0_date_is_quarantined_by_transform_and_later_runs_load(seeded) -> None:
    world = seeded
    world.simulate()
    bad = _new_order(world.admin, agreed_delivery_date="0000-01-01")

    world.cycle()  # the old code: load failed here, and on every later cycle

    record = world.store("processed").get_json(run_key(2))
    lines = world.store("processed").get_text_lines(record["quarantine"]["sales_order"]["key"])
    [quarantined] = [json.loads(line) for line in lines]
    assert quarantined["primary_key"] == bad
    assert quarantined["reason"] == ("unparseable date (outside the warehouse's years 1-9999): agreed_delivery_date")
    world.simulate()
    world.cycle()
    assert world.ledger() == [1, 2, 3]
    report = world.verify(quarantined_versions=1)
    assert any(f"sales_order_id={bad}" in s for s in report.skipped_bad_input)


def _refuse_poison(world) -> int:
    """A DBA's CHECK the data then breaks: load's INSERT of that fact version is refused (23514)."""
    world.pipeline.warehouse.admin.run(
        f"ALTER TABLE fact_sales_order ADD CONSTRAINT no_poison CHECK (units_sold <> {POISON_UNITS})"
    )
    world.simulate()
    order = 7
    world.admin.run(
        "UPDATE sales_order SET units_sold = :u, last_updated = now() AT TIME ZONE 'UTC' - interval '1 second'"
        " WHERE sales_order_id = :id",
        u=POISON_UNITS,
        id=order,
    )
    world.cycle()  # the old code: load failed here, and on every later cycle
    return order


def _load_quarantine(world) -> list[tuple[int, str, str, dict[str, Any]]]:
    rows = world.pipeline.warehouse.admin.run(
        "SELECT run_seq, table_name, reason, row_data FROM pipeline.load_quarantine ORDER BY quarantine_id"
    )
    return [(r[0], r[1], r[2], r[3] if isinstance(r[3], dict) else json.loads(r[3])) for r in rows]


def _only_the_refused_version_differs(world, order: int) -> None:
    """Reconcile sees the refused change missing: the order's latest stored version is the one before."""
    diffs = world.reconcile().differences
    assert {(d.table, d.key) for d in diffs} == {("fact_sales_order", f"sales_order_id={order}")}
    assert {d.column for d in diffs} == {"units_sold", "last_updated_date", "last_updated_time"}
    assert [d.expected for d in diffs if d.column == "units_sold"] == [POISON_UNITS]


def test_a_value_the_warehouse_refuses_at_load_is_quarantined_and_the_run_commits(seeded) -> None:
    world = seeded
    order = _refuse_poison(world)

    assert world.ledger() == [1, 2]
    [(run_seq, table, reason, row)] = _load_quarantine(world)
    assert (run_seq, table, row["sales_order_id"], row["units_sold"]) == (2, "fact_sales_order", order, POISON_UNITS)
    assert reason.startswith("refused by the warehouse: 23514")
    assert "no_poison" in reason
    log = [json.loads(line) for line in world.log.getvalue().splitlines() if line.startswith("{")]
    refused = [e for e in log if e.get("message", "").startswith("the warehouse refused rows")]
    assert [(e["level"], e["table"], e["keys"]) for e in refused] == [
        ("ERROR", "fact_sales_order", [f"sales_order_id={order}"])
    ]
    ledger = world.pipeline.warehouse.admin.run("SELECT rows_quarantined FROM pipeline.load_ledger WHERE run_seq = 2")
    assert ledger == [[1]]
    _only_the_refused_version_differs(world, order)

    world.simulate()
    world.cycle()
    assert world.ledger() == [1, 2, 3]


def _outputs_file(world, write_outputs) -> str:
    functions = {stage: world.functions[stage] for stage in ("transform", "load")}
    return str(write_outputs(world.pipeline.resources, functions))


def test_replay_and_backfill_over_a_run_with_a_refused_row_succeed(seeded, write_outputs) -> None:
    world = seeded
    order = _refuse_poison(world)
    outputs = _outputs_file(world, write_outputs)
    cli = CliRunner()

    for args in (
        ["replay", "--yes"],
        ["replay", "--mode", "reload", "--yes"],
        ["backfill", "--from-run", "2", "--yes"],
    ):
        result = cli.invoke(app, [*args, "--outputs", outputs])
        assert result.exit_code == 0, (result.output, result.exception)
        assert "Replayed" in result.output
        assert world.ledger() == [1, 2]
        _only_the_refused_version_differs(world, order)
    # Each re-application quarantined the refused row again (a log of refusals, one per load).
    assert [(q[0], q[3]["sales_order_id"]) for q in _load_quarantine(world)] == [(2, order)] * 4


def test_a_replay_that_cannot_finish_ends_with_a_message_not_a_traceback(seeded, write_outputs) -> None:
    world = seeded
    outputs = _outputs_file(world, write_outputs)
    world.set_secret("warehouse", dataclasses.replace(world.pipeline.warehouse.credentials, port=world.closed_port()))

    result = CliRunner().invoke(app, ["backfill", "--from-run", "1", "--yes", "--outputs", outputs])

    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # not an exception escaping the command
    assert "replay failed" in result.output.lower(), result.output
