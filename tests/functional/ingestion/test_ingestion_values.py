"""Values round-trip exactly, through both read paths (COPY for the bulk, cursor for recent rows)."""

from __future__ import annotations

from datetime import datetime, timedelta

NASTY = "quote \" apostrophe ' newline \n tab \t backslash \\ cr \r ctl \x01\x02 é ü ñ 漢字 🛍️ \\N ,;|"


def _fill(ingest, last_updated: datetime) -> dict[str, int]:
    ids = {}
    ids["address"] = ingest.insert(
        "address", address_line_1=NASTY, address_line_2=None, district="", city="Zürich", postal_code="8001",
        country="Switzerland", phone="+41 44 000", created_at=datetime(2022, 11, 3, 14, 20, 52, 186000),
        last_updated=last_updated,
    )  # fmt: skip
    ids["design"] = ingest.insert(
        "design", design_name="Wooden", file_location="/usr/share", file_name="wooden-2022.json",
        created_at=last_updated, last_updated=last_updated,
    )  # fmt: skip
    ids["department"] = ingest.add_department("Sales", last_updated)
    ids["staff"] = ingest.insert(
        "staff", first_name="Zoë", last_name="O'Brien", department_id=ids["department"],
        email_address="zoe@terrifictotes.com", created_at=last_updated, last_updated=last_updated,
    )  # fmt: skip
    ids["currency"] = ingest.add_currency("GBP", last_updated)
    ids["counterparty"] = ingest.insert(
        "counterparty", counterparty_legal_name="Fahey & Sons", legal_address_id=ids["address"],
        commercial_contact=None, delivery_contact="Ann", created_at=last_updated, last_updated=last_updated,
    )  # fmt: skip
    ids["sales_order"] = ingest.admin.run(
        "INSERT INTO sales_order (design_id, staff_id, counterparty_id, units_sold, unit_price, currency_id,"
        " agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id, created_at, last_updated)"
        " VALUES (:d, :s, :c, 42, CAST(:price AS numeric), :cur, '2024-02-30', '2024-03-01', :a,"
        " CAST(:t AS timestamp), CAST(:t AS timestamp)) RETURNING sales_order_id",
        d=ids["design"], s=ids["staff"], c=ids["counterparty"], price="99999999.99", cur=ids["currency"],
        a=ids["address"], t=last_updated.isoformat(timespec="milliseconds"),
    )[0][0]  # fmt: skip
    ids["payment_type"] = ingest.admin.run(
        "INSERT INTO payment_type (payment_type_name, created_at, last_updated)"
        " VALUES ('PURCHASE_REFUND', :t, :t) RETURNING payment_type_id", t=last_updated,
    )[0][0]  # fmt: skip
    ids["transaction"] = ingest.admin.run(
        "INSERT INTO transaction (transaction_type, sales_order_id, purchase_order_id, created_at, last_updated)"
        " VALUES ('SALE', :so, NULL, :t, :t) RETURNING transaction_id", so=ids["sales_order"], t=last_updated,
    )[0][0]  # fmt: skip
    ids["payment"] = ingest.admin.run(
        "INSERT INTO payment (transaction_id, counterparty_id, payment_amount, currency_id, payment_type_id, paid,"
        " payment_date, company_ac_number, counterparty_ac_number, created_at, last_updated)"
        " VALUES (:tr, :c, CAST('0.10' AS numeric), :cur, :pt, false, '2024-03-01', 12345678, 87654321, :t, :t)"
        " RETURNING payment_id",
        tr=ids["transaction"], c=ids["counterparty"], cur=ids["currency"], pt=ids["payment_type"], t=last_updated,
    )[0][0]  # fmt: skip
    return ids


def test_values_round_trip_exactly_through_both_read_paths(ingest) -> None:
    old = datetime(2023, 5, 6, 7, 8, 9, 120000)  # .120: row_to_json would print ".12"
    recent = ingest.clock.now - timedelta(seconds=30, milliseconds=999)
    old_ids, recent_ids = _fill(ingest, old), _fill(ingest, recent)

    ingest.run()

    for path, ids, stamp in (
        ("copy", old_ids, "2023-05-06T07:08:09.120"),
        ("cursor", recent_ids, "2026-03-01T11:59:29.001"),
    ):
        rows = {table: {r[f"{table}_id"]: r for r in ingest.committed_rows(table)} for table in ids}
        address = rows["address"][ids["address"]]
        assert address == {
            "address_id": ids["address"], "address_line_1": NASTY, "address_line_2": None, "district": "",
            "city": "Zürich", "postal_code": "8001", "country": "Switzerland", "phone": "+41 44 000",
            "created_at": "2022-11-03T14:20:52.186", "last_updated": stamp,
        }, path  # fmt: skip
        order = rows["sales_order"][ids["sales_order"]]
        assert order["unit_price"] == "99999999.99", "numeric is an exact decimal string, never a float"
        assert order["units_sold"] == 42
        assert order["agreed_delivery_date"] == "2024-02-30", "text dates stay text, even invalid ones"
        assert list(order) == [
            "sales_order_id", "design_id", "staff_id", "counterparty_id", "units_sold", "unit_price",
            "currency_id", "agreed_delivery_date", "agreed_payment_date", "agreed_delivery_location_id",
            "created_at", "last_updated",
        ]  # fmt: skip
        payment = rows["payment"][ids["payment"]]
        assert payment["payment_amount"] == "0.10"
        assert payment["paid"] is False
        assert payment["company_ac_number"] == 12345678
        assert rows["payment_type"][ids["payment_type"]]["payment_type_name"] == "PURCHASE_REFUND"
        txn = rows["transaction"][ids["transaction"]]
        assert txn["transaction_type"] == "SALE"
        assert txn["purchase_order_id"] is None
        assert rows["staff"][ids["staff"]]["last_name"] == "O'Brien"
        assert rows["counterparty"][ids["counterparty"]]["commercial_contact"] is None


def test_copy_and_cursor_render_a_row_identically(ingest) -> None:
    old, recent = datetime(2023, 1, 1), ingest.clock.now - timedelta(minutes=1)
    a = ingest.insert("address", address_line_1=NASTY, address_line_2=None, district=None, city="c", postal_code="p",
                      country="k", phone="1", created_at=old, last_updated=old)  # fmt: skip
    b = ingest.insert("address", address_line_1=NASTY, address_line_2=None, district=None, city="c", postal_code="p",
                      country="k", phone="1", created_at=old, last_updated=recent)  # fmt: skip
    ingest.run()
    lines = {r["address_id"]: r for r in ingest.committed_rows("address")}
    assert {k: v for k, v in lines[a].items() if k not in ("address_id", "last_updated")} == {
        k: v for k, v in lines[b].items() if k not in ("address_id", "last_updated")
    }
