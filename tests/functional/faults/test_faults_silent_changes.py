"""Changes the incremental path cannot see (issue 14; SPEC §2 "Deletion", "Changes that do not
touch last_updated"), end to end through the deployed handlers: the comparison's schedule
(``{"action": "compare"}``) finds them, transform and load apply its run like any other, and
the verdict (reconcile + every committed version exactly once + immutable lake + caught up)
holds after each."""

from __future__ import annotations

from typing import Any

from common.source_tables import SOURCE_TABLES
from local.generator_changes import apply_silent_changes

SALES_SELECT = "SELECT sales_order_id FROM sales_order ORDER BY sales_order_id"


def _compare(world: Any) -> dict[str, Any]:
    """The comparison's scheduled invocation, then every notification until quiet."""
    invocation = world.invoke("ingestion", {"action": "compare"})
    assert invocation.ok, invocation.error
    world.cycle(schedule=False)
    return invocation.result


def _history(world: Any, order: int) -> list[list[Any]]:
    return world.pipeline.warehouse.admin.run(
        "SELECT units_sold, is_deleted, is_current FROM pipeline.fact_sales_order_history"
        " WHERE sales_order_id = :o ORDER BY sales_record_id",
        o=order,
    )


def _order_with_transaction(world: Any) -> tuple[int, int]:
    return tuple(
        world.admin.run(
            "SELECT sales_order_id, transaction_id FROM transaction WHERE sales_order_id IS NOT NULL"
            " ORDER BY transaction_id LIMIT 1"
        )[0]
    )


def test_a_hard_deleted_sales_order_gets_a_deletion_version_and_its_transaction_loses_it(seeded) -> None:
    world = seeded
    order, txn = _order_with_transaction(world)
    last = _history(world, order)[-1][0]
    world.admin.run("DELETE FROM sales_order WHERE sales_order_id = :o", o=order)  # SET NULL on transaction
    found = _compare(world)
    assert found["deleted"] == {"sales_order": 1}
    assert found["changed_in_place"] == {"transaction": 1}
    wh = world.pipeline.warehouse.admin
    assert _history(world, order)[-1] == [last, True, True]
    assert wh.run("SELECT count(*) FROM pipeline.fact_sales_order_current WHERE sales_order_id = :o", o=order) == [[0]]
    assert wh.run("SELECT sales_order_id FROM dim_transaction WHERE transaction_id = :t", t=txn) == [[None]]
    world.verify()


def test_a_deleted_payment_gets_a_deletion_version(seeded) -> None:
    world = seeded
    payment = world.admin.run("SELECT max(payment_id) FROM payment")[0][0]
    world.admin.run("DELETE FROM payment WHERE payment_id = :p", p=payment)
    assert _compare(world)["deleted"] == {"payment": 1}
    wh = world.pipeline.warehouse.admin
    assert wh.run("SELECT is_deleted FROM pipeline.fact_payment_history WHERE payment_id = :p AND is_current",
                  p=payment) == [[True]]  # fmt: skip
    assert wh.run("SELECT count(*) FROM pipeline.fact_payment_current WHERE payment_id = :p", p=payment) == [[0]]
    world.verify()


def test_an_in_place_fix_to_a_fact_row_is_a_new_current_version(seeded) -> None:
    world = seeded
    order = world.admin.run(SALES_SELECT)[0][0]
    world.admin.run("UPDATE sales_order SET units_sold = units_sold + 1000 WHERE sales_order_id = :o", o=order)
    assert _compare(world)["changed_in_place"] == {"sales_order": 1}
    versions = _history(world, order)
    assert versions[-1][1:] == [False, True]
    assert versions[-1][0] == versions[-2][0] + 1000
    world.verify()


def test_an_in_place_fix_to_a_dimension_row_updates_the_member(seeded) -> None:
    world = seeded
    design = world.admin.run("SELECT min(design_id) FROM design")[0][0]
    world.admin.run("UPDATE design SET design_name = 'Fixed by support' WHERE design_id = :d", d=design)
    assert _compare(world)["changed_in_place"] == {"design": 1}
    wh = world.pipeline.warehouse.admin
    assert wh.run("SELECT design_name FROM dim_design WHERE design_id = :d", d=design) == [["Fixed by support"]]
    world.verify()


def test_a_row_deleted_and_reinserted_with_the_same_id_is_current_again(seeded) -> None:
    world = seeded
    order = world.admin.run(SALES_SELECT)[-1][0]
    saved = world.admin.run("SELECT * FROM sales_order WHERE sales_order_id = :o", o=order)[0]
    world.admin.run("UPDATE transaction SET sales_order_id = NULL WHERE sales_order_id = :o", o=order)
    world.admin.run("DELETE FROM sales_order WHERE sales_order_id = :o", o=order)
    _compare(world)
    assert _history(world, order)[-1][1:] == [True, True]
    world.admin.run(
        "INSERT INTO sales_order SELECT (r).* FROM (SELECT CAST(ROW(" + ", ".join(f":v{i}" for i in range(len(saved)))
        + ") AS sales_order) AS r) AS x",
        **{f"v{i}": v for i, v in enumerate(saved)},
    )  # fmt: skip
    world.admin.run("UPDATE sales_order SET last_updated = now() AT TIME ZONE 'UTC' WHERE sales_order_id = :o", o=order)
    world.cycle()
    assert _history(world, order)[-1][1:] == [False, True]
    world.verify()


def test_comparisons_running_twice_for_the_same_data_change_nothing(seeded) -> None:
    world = seeded
    wh = world.pipeline.warehouse.admin
    before = wh.run("SELECT count(*) FROM fact_sales_order")
    first, second = _compare(world), _compare(world)
    assert (first["deleted"], first["changed_in_place"], second["deleted"], second["changed_in_place"]) == (
        {}, {}, {}, {},
    )  # fmt: skip
    assert wh.run("SELECT count(*) FROM fact_sales_order") == before
    world.verify()


def _stamps(world: Any, table: str) -> dict[int, Any]:
    pk = SOURCE_TABLES[table].primary_key
    return dict(world.admin.run(f"SELECT {pk}, last_updated FROM {table}"))


def test_the_generators_deletes_and_fixes_reach_the_warehouse_exactly(seeded) -> None:
    """The generator's batch of silent changes (local.generator_changes): hard deletes of orders
    (with the transactions' SET NULL) and payments, in-place fixes to facts and to an address."""
    world = seeded
    tables = ("sales_order", "purchase_order", "payment", "address", "transaction")
    before = {t: _stamps(world, t) for t in tables}
    batch = apply_silent_changes(
        world.admin, seed=5, deletes={"sales_order": 3, "purchase_order": 2, "payment": 3},
        fixes={"sales_order": 2, "purchase_order": 2, "payment": 2, "address": 1},
    )  # fmt: skip
    assert len(batch.nulled_transactions) == 5, "every generated order has its transaction"
    assert world.admin.run(
        "SELECT count(*) FROM transaction WHERE transaction_id = ANY(:t)"
        " AND sales_order_id IS NULL AND purchase_order_id IS NULL",
        t=list(batch.nulled_transactions),
    ) == [[5]]
    after = {t: _stamps(world, t) for t in tables}
    for table in tables:  # no last_updated moved: only the comparison can see any of it
        gone = set(batch.deleted.get(table, ()))
        assert after[table] == {k: v for k, v in before[table].items() if k not in gone}, table

    found = _compare(world)
    assert found["deleted"] == {t: len(ids) for t, ids in batch.deleted.items()}
    assert found["changed_in_place"] == {t: len(ids) for t, ids in batch.changed_in_place().items()}
    wh = world.pipeline.warehouse.admin
    assert wh.run(
        "SELECT count(*) FROM pipeline.fact_sales_order_current WHERE sales_order_id = ANY(:o)",
        o=list(batch.deleted["sales_order"]),
    ) == [[0]]
    world.verify()
