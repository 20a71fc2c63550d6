"""Every kind of bad input ends in quarantine with its reason, is counted, and the rest proceeds."""

from __future__ import annotations

import hashlib
import json

from lake.keys import run_key
from transform.handler import lambda_handler
from transform.run import run_transform


def _reasons(lake, seq: int, table: str) -> dict[int | None, str]:
    return {q["line_no"]: q["reason"] for q in lake.quarantined(seq, table)}


def test_bad_fact_rows_are_quarantined_and_good_rows_proceed(lake, pipeline, emitted_metrics, caplog) -> None:
    r = lake.row
    good = r("sales_order", 1)
    bad_date = r("sales_order", 2, agreed_payment_date="2024-02-30")
    no_field = {k: v for k, v in r("sales_order", 3).items() if k != "units_sold"}
    null_nn = r("sales_order", 4, design_id=None)
    wrong_type = r("sales_order", 5, units_sold="ten")
    money_float = r("sales_order", 6, unit_price=2.5)
    fk_miss = r("sales_order", 7, staff_id=404)
    too_precise = r("sales_order", 8, unit_price="1.234")
    bad_ts = r("sales_order", 9, last_updated="yesterday")
    rows = lake.base_rows()
    rows["sales_order"] = [
        good,
        bad_date,
        no_field,
        null_nn,
        '{"sales_order_id": 10, "units_sold": ',
        wrong_type,
        money_float,
        fk_miss,
        too_precise,
        bad_ts,
        r("sales_order", 11),
    ]
    lake.commit_ingest(1, rows)

    summary = lambda_handler({}, None)

    assert [f["sales_order_id"] for f in lake.rows(1, "fact_sales_order")] == [1, 11]
    reasons = _reasons(lake, 1, "sales_order")
    assert reasons == {
        2: "unparseable date: agreed_payment_date",
        3: "missing required field or null: units_sold",
        4: "missing required field or null: design_id",
        5: reasons[5],  # checked below: the JSON decoder's message
        6: "wrong type: units_sold must be a JSON integer, got str",
        7: "wrong type: unit_price must be a JSON string, got float",
        8: "foreign key matches nothing: staff_id -> staff",
        9: "not a numeric(10,2): unit_price",
        10: "unparseable timestamp: last_updated",
    }
    assert reasons[5].startswith("malformed JSON line")
    first = lake.quarantined(1, "sales_order")[0]
    assert first["table"] == "sales_order"
    assert first["run_seq"] == 1
    assert first["primary_key"] == 2
    assert first["source_key"].startswith("data/sales_order/")
    assert json.loads(first["raw"]) == bad_date
    record = lake.commit_record(1)
    assert record["quarantine"]["sales_order"]["rows"] == 9
    assert record["rows_quarantined"] == 9
    assert summary["rows_quarantined"] == 9
    errors = [rec for rec in caplog.records if rec.levelname == "ERROR"]
    assert [(e.table, e.rows) for e in errors] == [("sales_order", 9)]
    emf = emitted_metrics()
    assert emf[-1]["RowsQuarantined"] == [9.0]


def test_bad_dimension_rows_are_quarantined(lake) -> None:
    r = lake.row
    rows = lake.base_rows()
    rows["currency"] = [r("currency", 1), r("currency", 2, currency_code="ZZZ")]
    rows["staff"] = [r("staff", 1), r("staff", 2, department_id=9)]
    rows["counterparty"] = [r("counterparty", 1), r("counterparty", 2, legal_address_id=9)]
    rows["payment_type"] = [r("payment_type", 1), r("payment_type", 2, payment_type_name="GIFT")]
    rows["sales_order"] = [r("sales_order", 1, currency_id=2), r("sales_order", 2, staff_id=2)]
    lake.commit_ingest(1, rows)

    run_transform(lake.ingest, lake.processed)

    assert _reasons(lake, 1, "currency") == {2: "unknown ISO 4217 currency code"}
    assert _reasons(lake, 1, "staff") == {2: "foreign key matches nothing: department_id -> department"}
    assert _reasons(lake, 1, "counterparty") == {2: "foreign key matches nothing: legal_address_id -> address"}
    assert _reasons(lake, 1, "payment_type") == {2: "unknown enum label: payment_type_name"}
    # Rejected members never enter the state, so facts pointing at them are rejected too.
    assert _reasons(lake, 1, "sales_order") == {
        1: "foreign key matches nothing: currency_id -> currency",
        2: "foreign key matches nothing: staff_id -> staff",
    }
    assert [c["currency_id"] for c in lake.rows(1, "dim_currency")] == [1]
    assert [s["staff_id"] for s in lake.rows(1, "dim_staff")] == [1]
    assert [c["counterparty_id"] for c in lake.rows(1, "dim_counterparty")] == [1]
    assert lake.quarantined(1, "staff")[0]["raw"] is not None


def test_object_whose_sha256_differs_from_the_manifest_is_quarantined_whole(lake) -> None:
    r = lake.row
    rows = lake.base_rows()
    rows["sales_order"] = [r("sales_order", 1)]
    rows["purchase_order"] = [r("purchase_order", 1)]
    manifest = lake.commit_ingest(1, rows, corrupt=("sales_order",))

    run_transform(lake.ingest, lake.processed)

    [entry] = lake.quarantined(1, "sales_order")
    assert entry["source_key"] == manifest["tables"]["sales_order"]["key"]
    assert entry["line_no"] is None
    assert "sha256" in entry["reason"]
    assert lake.rows(1, "fact_sales_order") == []
    assert len(lake.rows(1, "fact_purchase_order")) == 1


def test_a_mismatching_object_read_over_many_blocks_leaves_nothing_behind(lake) -> None:
    # The object is verified only once streamed to its end: rows of the blocks parsed
    # before that (facts, bad lines, dates) must all be dropped with the object.
    r = lake.row
    rows = lake.base_rows()
    rows["sales_order"] = [r("sales_order", i) for i in range(1, 60)] + ["not json"]
    manifest = lake.commit_ingest(1, rows, corrupt=("sales_order",))

    result = run_transform(lake.ingest, lake.processed, block_bytes=512)

    [entry] = lake.quarantined(1, "sales_order")
    assert entry["source_key"] == manifest["tables"]["sales_order"]["key"]
    assert entry["line_no"] is None
    assert "sha256" in entry["reason"]
    assert lake.rows(1, "fact_sales_order") == []
    assert "sales_order" not in result.rows_in
    assert lake.rows(1, "dim_date") == [], "dates referenced only by the dropped rows"


def test_an_object_that_is_not_even_gzip_and_mismatches_is_quarantined_not_fatal(lake) -> None:
    rows = lake.base_rows()
    rows["sales_order"] = [lake.row("sales_order", 1)]
    manifest = lake.commit_ingest(1, rows)
    # Run 2 names an object whose bytes are garbage (inflating it fails half way) and
    # whose manifest digest is that of other bytes: bad input, not a broken contract.
    garbage_key = "data/sales_order/2024-01-03/0000000002-garbage.jsonl.gz"
    lake.ingest.put_new(garbage_key, b"\x1f\x8b\x08\x00" + bytes(range(256)) * 64)
    doc = {**manifest, "run_seq": 2, "previous_run_seq": 1}
    doc["tables"] = {
        name: {**entry, "key": None, "rows": 0, "sha256": None} for name, entry in manifest["tables"].items()
    }
    doc["tables"]["sales_order"] = {**manifest["tables"]["sales_order"], "key": garbage_key, "rows": 3}
    lake.ingest.put_new_json(run_key(2), doc)

    result = run_transform(lake.ingest, lake.processed)

    assert result.runs_committed == [1, 2]
    [entry] = lake.quarantined(2, "sales_order")
    assert entry["source_key"] == garbage_key
    assert "sha256" in entry["reason"]
    assert lake.rows(2, "fact_sales_order") == []


def test_committed_bytes_that_cannot_be_inflated_are_quarantined_not_a_crash_loop(lake) -> None:
    # The object is exactly what the manifest names (its sha256 matches) but is not
    # gzip: no retry could ever read it, so failing would block every later run.
    rows = lake.base_rows()
    rows["sales_order"] = [lake.row("sales_order", 1)]
    manifest = lake.commit_ingest(1, rows)
    garbage = b"\x1f\x8b\x08\x00" + bytes(range(256)) * 64
    garbage_key = "data/sales_order/2024-01-03/0000000002-garbage.jsonl.gz"
    lake.ingest.put_new(garbage_key, garbage)
    doc = {**manifest, "run_seq": 2, "previous_run_seq": 1}
    doc["tables"] = {
        name: {**entry, "key": None, "rows": 0, "sha256": None} for name, entry in manifest["tables"].items()
    }
    doc["tables"]["sales_order"] = {
        **manifest["tables"]["sales_order"],
        "key": garbage_key,
        "rows": 3,
        "sha256": hashlib.sha256(garbage).hexdigest(),
    }
    lake.ingest.put_new_json(run_key(2), doc)

    result = run_transform(lake.ingest, lake.processed)

    assert result.runs_committed == [1, 2]
    [entry] = lake.quarantined(2, "sales_order")
    assert entry["source_key"] == garbage_key
    assert entry["line_no"] is None
    assert "cannot be inflated" in entry["reason"]
    assert lake.rows(2, "fact_sales_order") == []
    assert len(lake.rows(1, "fact_sales_order")) == 1
