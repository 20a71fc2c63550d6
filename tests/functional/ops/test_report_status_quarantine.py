"""Report, status and quarantine inspection against data written by SQL and into moto."""

from __future__ import annotations

import json

from common.s3_store import LakeStore
from lake.commit_record import CommitRecord, ObjectRef, write_commit_record
from lake.keys import KeyKind, parse_key
from lake.manifest import IngestManifest, write_manifest
from ops.quarantined import list_quarantine, read_records
from ops.report import build_report, write_report
from ops.status import collect_status


def test_report_answers_the_questions_from_current_versions(tiny_world, tmp_path) -> None:
    _, warehouse_db = tiny_world
    con = warehouse_db.connect()
    try:
        path = write_report(con, tmp_path / "report")
        page = path.read_text()
        # Sales value by month: order 1's current version (100 x 2.50), not the older 90 units.
        assert "<td>2024-01</td><td>GBP</td><td>250.00</td>" in page
        assert "<td>2024-01</td><td>EUR</td><td>21.00</td>" in page
        assert "<li><b>2</b> Sales orders (current)</li>" in page
        assert "<li><b>3</b> Sales order versions</li>" in page
        assert page.count("data:image/png;base64,") == 7
        assert "Wooden #1" in page
        # Money is never added across currencies: each payment status and purchase line is per currency.
        assert "<td>SALES_RECEIPT</td><td>paid GBP</td><td>250.00</td>" in page
        assert "<td>2024-01</td><td>purchase orders GBP</td><td>50.00</td>" in page
        # The temporary views did not outlive the report.
        assert con.run("SELECT count(*) FROM pg_views WHERE viewname = 'cur_sales'") == [[0]]
    finally:
        con.close()


def test_payments_in_two_currencies_are_never_summed(tiny_world, tmp_path) -> None:
    _, warehouse_db = tiny_world
    warehouse_db.admin.run(
        "INSERT INTO fact_payment (payment_id, created_date, created_time, last_updated_date, last_updated_time,"
        " transaction_id, counterparty_id, payment_amount, currency_id, payment_type_id, paid, payment_date)"
        " VALUES (2, '2024-01-10', '09:30:00', '2024-01-10', '09:30:00', 2, 1, 40.00, 2, 2, true, '2024-01-20'),"
        " (3, '2024-01-11', '09:30:00', '2024-01-11', '09:30:00', 2, 1, 7.00, 1, 2, true, '2024-01-21')"
    )
    con = warehouse_db.connect()
    try:
        page = write_report(con, tmp_path / "report").read_text()
    finally:
        con.close()
    assert "<td>PURCHASE_PAYMENT</td><td>paid EUR</td><td>40.00</td>" in page
    assert "<td>PURCHASE_PAYMENT</td><td>paid GBP</td><td>7.00</td>" in page
    assert "<td>2024-01</td><td>payments made EUR</td><td>40.00</td>" in page
    assert "47.00" not in page


def test_report_of_an_empty_warehouse_still_renders(warehouse_db) -> None:
    con = warehouse_db.connect()
    try:
        page = build_report(con)
    finally:
        con.close()
    assert "<li><b>0</b> Sales orders (current)</li>" in page


def _bad(table: str, seq: int, reason: str) -> str:
    return json.dumps({"table": table, "run_seq": seq, "reason": reason, "raw": "{}", "primary_key": 1})


def test_quarantine_and_status_read_the_lake_and_ssm(pipeline) -> None:
    res, s3 = pipeline.resources, pipeline.aws.s3
    processed = LakeStore(res.processed_bucket, s3)
    ingest = LakeStore(res.ingest_bucket, s3)
    committed = "quarantine/0000000002/sales_order-aaaaaaaaaaaa.jsonl"
    orphan = "quarantine/0000000002/sales_order-bbbbbbbbbbbb.jsonl"
    lines = [_bad("sales_order", 2, "agreed_payment_date is not a date")] * 2 + [_bad("sales_order", 2, "null id")]
    processed.put_new(committed, "\n".join(lines).encode())
    processed.put_new(orphan, _bad("sales_order", 2, "x").encode())
    for seq in (1, 2, 3):
        stamp = f"2026-01-0{seq}T00:00:00Z"
        write_manifest(ingest, IngestManifest(seq, "aaaaaaaaaaaa", stamp, stamp, seq - 1, tables={}))
    for seq in (1, 2):
        quarantine = {"sales_order": ObjectRef(committed, 3)} if seq == 2 else {}
        write_commit_record(processed, CommitRecord(seq, "aaaaaaaaaaaa", {}, {}, quarantine, committed_at="t"))
    ssm = pipeline.aws.ssm
    ssm.put_parameter(Name=f"{res.ssm_prefix}/ingestion/last_run_seq", Value="3", Overwrite=True)
    ssm.put_parameter(
        Name=f"{res.ssm_prefix}/ingestion/watermarks",
        Value=json.dumps({"sales_order": "2026-01-03T00:00:00.000", "staff": "2026-01-02T00:00:00.000"}),
        Overwrite=True,
    )

    objects = list_quarantine(processed)
    assert [(o.key, o.rows, o.committed) for o in objects] == [(committed, 3, True), (orphan, 1, False)]
    assert objects[0].reasons == {"agreed_payment_date is not a date": 2, "null id": 1}
    assert read_records(processed, committed)[2]["reason"] == "null id"
    assert parse_key("quarantine/0000000007/payment-0a1b2c3d4e5f.jsonl", KeyKind.QUARANTINE).run_seq == 7
    assert parse_key("runs/0000000007.json", KeyKind.QUARANTINE) is None

    wh = pipeline.warehouse.connect()
    try:
        status = collect_status(s3=s3, ssm=ssm, resources=res, warehouse=wh)
    finally:
        wh.close()
    assert status.ssm_last_run_seq == 3
    assert status.stage("ingestion").run_seq == 3
    assert status.stage("ingestion").committed_at == "2026-01-03T00:00:00Z"
    assert status.stage("transform").run_seq == 2
    assert status.lag_runs["transform"] == 1
    assert status.quarantined == {"sales_order": 3}
    assert status.source_lag_seconds is not None
    assert status.source_lag_seconds > 0
    assert status.failure_queue_depth is None
