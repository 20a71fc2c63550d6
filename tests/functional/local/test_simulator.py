"""The change simulator against a real, seeded totesys."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pg8000.native
import pytest
from pg8000.native import identifier

from common.source_tables import SOURCE_TABLES, TABLE_ORDER
from local.generator import seed_database
from local.simulator import SimulationError, simulate_changes, simulate_silent_changes

NOW = datetime(2026, 1, 15, 10, 30, 0, 123000)


def _ids(con: pg8000.native.Connection, table: str, column: str, at: datetime) -> set[int]:
    pk = SOURCE_TABLES[table].primary_key
    sql = f"SELECT {identifier(pk)} FROM {identifier(table)} WHERE {identifier(column)} = :at"
    return {r[0] for r in con.run(sql, at=at)}


def _newest(con: pg8000.native.Connection) -> dict[str, datetime]:
    return {t: con.run(f"SELECT max(last_updated) FROM {identifier(t)}")[0][0] for t in TABLE_ORDER}


def _fingerprint(con: pg8000.native.Connection) -> dict[str, str]:
    return {
        t: con.run(f"SELECT md5(string_agg(x::text, E'\\n' ORDER BY 1)) FROM {identifier(t)} x")[0][0]
        for t in TABLE_ORDER
    }


@pytest.fixture
def seeded(source_db: Any) -> pg8000.native.Connection:
    seed_database(source_db.admin, seed=3, scale=0.2)
    return source_db.admin


def test_changes_are_visible_with_last_updated_bumped_and_match_the_report(
    seeded: pg8000.native.Connection,
) -> None:
    before = _newest(seeded)
    counts_before = {t: seeded.run(f"SELECT count(*) FROM {identifier(t)}")[0][0] for t in TABLE_ORDER}
    report = simulate_changes(seeded, seed=7, now=NOW)

    assert report.now == NOW
    for table in TABLE_ORDER:
        assert before[table] < NOW
        # Exactly the reported rows carry the batch's timestamp; inserts also as created_at.
        assert _ids(seeded, table, "last_updated", NOW) == report.changed_ids(table), table
        assert _ids(seeded, table, "created_at", NOW) == set(report.inserted[table]), table
        assert not set(report.inserted[table]) & set(report.updated[table])
        count = seeded.run(f"SELECT count(*) FROM {identifier(table)}")[0][0]
        assert count == counts_before[table] + len(report.inserted[table]), table

    for table in ("address", "counterparty", "staff", "sales_order", "purchase_order", "transaction", "payment"):
        assert report.inserted[table], f"no {table} inserted"
    for table in ("sales_order", "staff", "address", "department", "payment"):
        assert report.updated[table], f"no {table} updated"
    assert len(report.changed_ids("sales_order")) >= 20  # many rows share the batch's last_updated


def test_the_update_details_are_what_the_database_now_holds(seeded: pg8000.native.Connection) -> None:
    report = simulate_changes(seeded, seed=7, now=NOW)
    rename, move, edit = report.renamed_department, report.moved_staff, report.edited_address

    name = seeded.run("SELECT department_name FROM department WHERE department_id = :i", i=rename.department_id)
    assert name[0][0] == rename.new_name != rename.old_name
    dept = seeded.run("SELECT department_id FROM staff WHERE staff_id = :i", i=move.staff_id)
    assert dept[0][0] == move.new_department_id != move.old_department_id

    line, phone = seeded.run("SELECT address_line_1, phone FROM address WHERE address_id = :i", i=edit.address_id)[0]
    assert (line, phone) == (edit.new_address_line_1, edit.new_phone)
    assert line != edit.old_address_line_1
    owners = seeded.run(
        "SELECT counterparty_id FROM counterparty WHERE legal_address_id = :a ORDER BY 1", a=edit.address_id
    )
    assert tuple(r[0] for r in owners) == edit.counterparty_ids
    assert edit.counterparty_ids  # it is someone's legal address

    for change in report.units_sold_changes:
        units = seeded.run("SELECT units_sold FROM sales_order WHERE sales_order_id = :i", i=change.sales_order_id)
        assert units[0][0] == change.new_units_sold != change.old_units_sold
    assert {c.sales_order_id for c in report.units_sold_changes} == set(report.updated["sales_order"])

    assert report.paid_payment_id is not None
    assert seeded.run("SELECT paid FROM payment WHERE payment_id = :i", i=report.paid_payment_id)[0][0] is True

    text = report.describe()
    assert repr(rename.new_name) in text
    assert f"staff {move.staff_id} moved" in text
    assert f"sales_order {len(report.inserted['sales_order'])}" in text


def test_a_batch_without_department_changes_moves_and_renames_nothing(seeded: pg8000.native.Connection) -> None:
    departments = seeded.run("SELECT department_id, department_name FROM department ORDER BY 1")
    staff = seeded.run("SELECT staff_id, department_id FROM staff ORDER BY 1")
    report = simulate_changes(seeded, seed=7, now=NOW, departments=False)

    assert report.renamed_department is None
    assert report.moved_staff is None
    assert seeded.run("SELECT department_id, department_name FROM department ORDER BY 1") == departments
    old_staff = seeded.run("SELECT staff_id, department_id FROM staff WHERE staff_id <= :m ORDER BY 1", m=staff[-1][0])
    assert old_staff == staff
    assert not report.updated["department"]
    assert not report.updated["staff"]
    assert report.inserted["staff"]
    assert report.units_sold_changes
    assert report.inserted["sales_order"]
    for table in TABLE_ORDER:
        assert _ids(seeded, table, "last_updated", NOW) == report.changed_ids(table), table
    text = report.describe()
    assert "no department renamed" in text
    assert "no staff member moved" in text


def test_inserted_rows_respect_every_reference(seeded: pg8000.native.Connection) -> None:
    report = simulate_changes(seeded, seed=7, now=NOW)
    new_tx = list(report.inserted["transaction"])
    wrong_type = seeded.run(
        "SELECT count(*) FROM transaction WHERE transaction_id = ANY(:ids) AND NOT ("
        " (transaction_type = 'SALE' AND sales_order_id IS NOT NULL AND purchase_order_id IS NULL) OR"
        " (transaction_type = 'PURCHASE' AND purchase_order_id IS NOT NULL AND sales_order_id IS NULL))",
        ids=new_tx,
    )
    assert wrong_type[0][0] == 0
    orders = seeded.run(
        "SELECT count(*) FROM transaction WHERE sales_order_id = ANY(:s) OR purchase_order_id = ANY(:p)",
        s=list(report.inserted["sales_order"]),
        p=list(report.inserted["purchase_order"]),
    )
    assert orders[0][0] == len(new_tx)  # one transaction per new order
    dangling = seeded.run(
        "SELECT count(*) FROM payment p WHERE payment_id = ANY(:ids) AND ("
        " NOT EXISTS (SELECT 1 FROM counterparty c WHERE c.counterparty_id = p.counterparty_id)"
        " OR NOT EXISTS (SELECT 1 FROM currency c WHERE c.currency_id = p.currency_id)"
        " OR NOT EXISTS (SELECT 1 FROM payment_type c WHERE c.payment_type_id = p.payment_type_id))",
        ids=list(report.inserted["payment"]),
    )
    assert dangling[0][0] == 0
    (new_counterparty,) = report.inserted["counterparty"]
    legal = seeded.run("SELECT legal_address_id FROM counterparty WHERE counterparty_id = :i", i=new_counterparty)
    assert legal[0][0] == report.inserted["address"][0]
    uses = seeded.run(
        "SELECT count(*) FROM sales_order WHERE sales_order_id = ANY(:ids) AND counterparty_id = :c"
        " AND staff_id = :s AND agreed_delivery_location_id = :a",
        ids=list(report.inserted["sales_order"]),
        c=new_counterparty,
        s=report.inserted["staff"][0],
        a=report.inserted["address"][0],
    )
    assert uses[0][0] >= 1


def test_same_seed_and_now_give_the_same_batch(seeded: pg8000.native.Connection, second_source_db: Any) -> None:
    seed_database(second_source_db.admin, seed=3, scale=0.2)
    first = simulate_changes(seeded, seed=7, now=NOW)
    second = simulate_changes(second_source_db.admin, seed=7, now=NOW)
    assert first == second
    assert _fingerprint(seeded) == _fingerprint(second_source_db.admin)


def test_another_seed_gives_another_batch(seeded: pg8000.native.Connection, second_source_db: Any) -> None:
    seed_database(second_source_db.admin, seed=3, scale=0.2)
    first = simulate_changes(seeded, seed=7, now=NOW)
    other = simulate_changes(second_source_db.admin, seed=8, now=NOW)
    assert first.as_dict() != other.as_dict()


def test_a_second_batch_on_top_of_the_first(seeded: pg8000.native.Connection) -> None:
    first = simulate_changes(seeded, seed=7, now=NOW)
    later = NOW + timedelta(minutes=20)
    second = simulate_changes(seeded, seed=8, now=later)
    for table in TABLE_ORDER:
        assert _ids(seeded, table, "last_updated", later) == second.changed_ids(table), table
        if first.inserted[table] and second.inserted[table]:
            assert min(second.inserted[table]) > max(first.inserted[table]), table
        # First-batch rows the second batch did not touch keep the first timestamp.
        assert _ids(seeded, table, "last_updated", NOW) == first.changed_ids(table) - second.changed_ids(table)


def test_default_now_is_after_everything_already_there(seeded: pg8000.native.Connection) -> None:
    # A row stamped in the future (clock skew): the batch must still be visibly newer.
    future = datetime(2100, 1, 1, 0, 0, 0, 5000)
    seeded.run("UPDATE currency SET last_updated = :f WHERE currency_id = 1", f=future)
    report = simulate_changes(seeded, seed=7)
    assert report.now == future + timedelta(milliseconds=1)
    assert report.now.microsecond % 1000 == 0
    assert report.now.tzinfo is None
    assert _ids(seeded, "sales_order", "last_updated", report.now) == report.changed_ids("sales_order")


def test_explicit_now_is_normalised_to_naive_utc_milliseconds(seeded: pg8000.native.Connection) -> None:
    paris = timezone(timedelta(hours=1))
    report = simulate_changes(seeded, seed=7, now=datetime(2026, 1, 15, 12, 30, 0, 123456, tzinfo=paris))
    assert report.now == datetime(2026, 1, 15, 11, 30, 0, 123000)
    assert _ids(seeded, "sales_order", "last_updated", report.now) == report.changed_ids("sales_order")


def test_refuses_an_empty_database(source_db: Any) -> None:
    with pytest.raises(SimulationError, match="seed it first"):
        simulate_changes(source_db.admin, seed=7, now=NOW)


def test_silent_changes_delete_one_order_with_its_set_null_and_fix_another_in_place(
    seeded: pg8000.native.Connection,
) -> None:
    before = _newest(seeded)
    silent = simulate_silent_changes(seeded, seed=4)
    assert seeded.run(
        "SELECT count(*) FROM sales_order WHERE sales_order_id = :o", o=silent.deleted_sales_order_id
    ) == [[0]]
    assert len(silent.nulled_transaction_ids) == 1
    assert seeded.run(
        "SELECT sales_order_id FROM transaction WHERE transaction_id = :t", t=silent.nulled_transaction_ids[0]
    ) == [[None]]
    price = seeded.run("SELECT unit_price FROM sales_order WHERE sales_order_id = :o", o=silent.fixed_sales_order_id)
    assert str(price[0][0]) == silent.new_unit_price != silent.old_unit_price
    assert _newest(seeded) == before, "no last_updated moved"
    assert "ON DELETE SET NULL" in silent.describe()
    assert simulate_silent_changes(seeded, seed=4) != silent, "a second batch picks other rows"
