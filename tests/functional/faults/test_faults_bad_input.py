"""Bad input: schema drift in the source, bad values in the source, and a committed
ingestion run whose objects are malformed. Documented outcomes (docs/reliability.md):

* a new source column: ignored with a warning, the pipeline continues;
* a dropped contract column: ingestion fails with SchemaMismatchError (the invocation
  errors, so the alarm fires), nothing is committed; once the column is back the next
  run completes and nothing is lost;
* bad rows (a broken JSON line, a date that is no date, an unknown foreign key, an
  unknown currency code): quarantined with the reason, counted, reported at ERROR; the
  rest of the run is loaded.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from datetime import UTC, datetime

from lake.keys import run_key


def test_a_new_source_column_is_ignored_with_a_warning(seeded) -> None:
    world = seeded
    world.admin.run("ALTER TABLE sales_order ADD COLUMN discount_code text DEFAULT 'NONE'")
    world.admin.run("ALTER TABLE staff ADD COLUMN nickname text")
    world.simulate()
    world.cycle()
    warnings = [json.loads(line) for line in world.log.getvalue().splitlines() if "outside the contract" in line]
    assert {w["table"] for w in warnings} == {"sales_order", "staff"}
    assert {w["level"] for w in warnings} == {"WARNING"}
    rows = world.manifest(2)
    assert rows["tables"]["sales_order"]["rows"] > 0
    world.verify()


def test_a_dropped_source_column_stops_ingestion_until_it_is_back(seeded) -> None:
    world = seeded
    world.simulate()
    saved = world.admin.run("SELECT department_id, manager FROM department ORDER BY 1")
    world.admin.run("ALTER TABLE department DROP COLUMN manager")

    failed = world.cycle(ok=False)
    assert len(failed.failures) == 1
    assert failed.failures[0].function == world.functions["ingestion"]
    assert failed.failures[0].attempts == 3
    assert (failed.failures[0].error or "").startswith("SchemaMismatchError")
    assert "department.manager" in (failed.failures[0].error or "")
    assert world.runs("ingest") == [1], "a run against a drifted schema committed"
    assert world.ssm_last_run_seq() == 1
    assert not [k for k in world.key_versions()["ingest"] if k.startswith("data/") and "/0000000002-" in k]

    # The column comes back (same values, rows not touched): the next run takes everything.
    world.admin.run("ALTER TABLE department ADD COLUMN manager text")
    for department_id, manager in saved:
        world.admin.run("UPDATE department SET manager = :m WHERE department_id = :i", m=manager, i=department_id)
    world.cycle()
    assert world.runs("ingest") == [1, 2]
    world.verify()


def test_bad_values_in_the_source_are_quarantined_and_the_rest_loads(seeded) -> None:
    """A text date that is no date, a currency code ISO does not know, and a payment whose
    currency_id matches nothing (payment has no foreign key there, SPEC §1)."""
    world = seeded
    # Changes first: a batch made after 'QQQ' exists may pick it for new orders, which
    # transform then quarantines too (their currency is not a known member).
    world.simulate()
    admin = world.admin
    bad_date = admin.run(
        "INSERT INTO sales_order (design_id, staff_id, counterparty_id, units_sold, unit_price, currency_id,"
        " agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id, last_updated)"
        " SELECT design_id, staff_id, counterparty_id, 5, unit_price, currency_id, '2024-02-30', agreed_payment_date,"
        " agreed_delivery_location_id, now() AT TIME ZONE 'UTC' - interval '1 second'"
        " FROM sales_order WHERE sales_order_id = 1 RETURNING sales_order_id"
    )[0][0]
    admin.run(
        "INSERT INTO currency (currency_code, last_updated)"
        " VALUES ('QQQ', now() AT TIME ZONE 'UTC' - interval '1 second')"
    )
    orphan_payment = admin.run(
        "INSERT INTO payment (transaction_id, counterparty_id, payment_amount, currency_id, payment_type_id, paid,"
        " payment_date, company_ac_number, counterparty_ac_number, last_updated)"
        " SELECT t.transaction_id, 1, 10.00, 999, 1, false, '2025-01-01', 1, 2,"
        "        now() AT TIME ZONE 'UTC' - interval '1 second'"
        " FROM transaction t LEFT JOIN payment p USING (transaction_id)"
        " WHERE p.payment_id IS NULL ORDER BY 1 LIMIT 1 RETURNING payment_id"
    )[0][0]
    world.cycle()

    record = world.store("processed").get_json(run_key(2))
    assert record["rows_quarantined"] == 3
    assert {t: e["rows"] for t, e in record["quarantine"].items()} == {"sales_order": 1, "currency": 1, "payment": 1}
    lines = world.store("processed").get_text_lines(record["quarantine"]["payment"]["key"])
    assert "currency" in json.loads(lines[0])["reason"]
    assert any(
        '"level":"ERROR"' in line.replace(" ", "") and "quarantined" in line
        for line in world.log.getvalue().splitlines()
    )
    report = world.verify(quarantined={"payment": {orphan_payment}}, quarantined_versions=2)
    skipped = " ".join(report.skipped_bad_input)
    assert f"sales_order_id={bad_date}" in skipped
    assert "QQQ" in skipped


def _gz_lines(lines: list[str]) -> bytes:
    return gzip.compress(("\n".join(lines) + "\n").encode())


def test_a_committed_run_with_malformed_objects(seeded) -> None:
    """A run in the ingest bucket whose JSONL holds a broken line, a date that is no date,
    an unknown foreign key and an unknown currency code, next to valid lines that repeat
    versions already loaded. Bad lines are quarantined and counted; repeats change nothing;
    the next scheduled run continues after it (ingestion rolls SSM forward over it)."""
    world = seeded
    ingest = world.store("ingest")
    first = world.manifest(1)
    source_rows = world.admin.run(
        "SELECT row_to_json(s)::text FROM (SELECT sales_order_id, created_at, last_updated, design_id, staff_id,"
        " counterparty_id, units_sold, unit_price::text AS unit_price, currency_id, agreed_delivery_date,"
        " agreed_payment_date, agreed_delivery_location_id FROM sales_order ORDER BY 1 LIMIT 4) s"
    )
    docs = [json.loads(r[0]) for r in source_rows]
    for d in docs:  # the lake's timestamp format: millisecond precision, always three digits
        for col in ("created_at", "last_updated"):
            d[col] = datetime.fromisoformat(d[col]).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
    newer = "2026-01-01T00:00:00.000"
    bad_date = {**docs[0], "last_updated": newer, "agreed_delivery_date": "2024-13-45"}
    unknown_fk = {**docs[1], "last_updated": newer, "staff_id": 999_999}
    sales_lines = [
        json.dumps(docs[2]),  # a version already loaded by run 1
        '{"sales_order_id": 77, "units_sold": ',  # broken JSON
        json.dumps(bad_date),
        json.dumps(unknown_fk),
        json.dumps(docs[3]),  # another repeat
    ]
    currency = world.admin.run("SELECT currency_id, created_at FROM currency ORDER BY 1 LIMIT 1")[0]
    currency_line = json.dumps(
        {
            "currency_id": currency[0],
            "currency_code": "ZQZ",
            "created_at": currency[1].strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3],
            "last_updated": newer,
        }
    )
    attempt = "0badf00d0bad"
    tables = {}
    for table, entry in first["tables"].items():
        tables[table] = {**entry, "key": None, "rows": 0, "sha256": None}
    for table, lines in (("sales_order", sales_lines), ("currency", [currency_line])):
        body = _gz_lines(lines)
        key = f"data/{table}/2026-01-01/0000000002-{attempt}.jsonl.gz"
        ingest.put_new(key, body, content_type="application/x-ndjson")
        tables[table] = {**tables[table], "key": key, "rows": len(lines), "sha256": hashlib.sha256(body).hexdigest()}
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    manifest = {
        **first,
        "run_seq": 2,
        "attempt": attempt,
        "previous_run_seq": 1,
        "started_at": now,
        "committed_at": now,
        "tables": tables,
    }
    ingest.put_new_json(run_key(2), manifest)

    world.simulate()
    world.cycle()  # delivers run 2's event; the scheduled run 3 rolls SSM forward over run 2
    assert world.runs("ingest") == [1, 2, 3]
    record = world.store("processed").get_json(run_key(2))
    assert record["rows_quarantined"] == 4
    reasons = [
        json.loads(line)["reason"]
        for entry in record["quarantine"].values()
        for line in world.store("processed").get_text_lines(entry["key"])
    ]
    assert len(reasons) == 4, reasons
    assert any("staff" in r for r in reasons), reasons
    assert any("4217" in r for r in reasons), reasons
    # The repeats were not stored again and the bad versions never reached the warehouse.
    world.verify(quarantined_versions=2)


def test_facts_in_a_quarantined_currency_are_quarantined_and_reconcile_agrees(seeded) -> None:
    """A new currency with a code ISO 4217 does not know, and a sales order in it. Both are
    bad input: the currency is quarantined, so the order references no dimension member
    and is quarantined too. Reconcile must count the order as skipped bad input."""
    world = seeded
    currency_id = world.admin.run(
        "INSERT INTO currency (currency_code, last_updated)"
        " VALUES ('QQQ', now() AT TIME ZONE 'UTC' - interval '2 seconds') RETURNING currency_id"
    )[0][0]
    world.admin.run(
        "INSERT INTO sales_order (design_id, staff_id, counterparty_id, units_sold, unit_price, currency_id,"
        " agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id, last_updated)"
        " SELECT design_id, staff_id, counterparty_id, 5, unit_price, :c, agreed_delivery_date,"
        " agreed_payment_date, agreed_delivery_location_id, now() AT TIME ZONE 'UTC' - interval '1 second'"
        " FROM sales_order WHERE sales_order_id = 1",
        c=currency_id,
    )
    world.cycle()
    record = world.store("processed").get_json(run_key(2))
    assert {t: e["rows"] for t, e in record["quarantine"].items()} == {"currency": 1, "sales_order": 1}
    world.verify(quarantined_versions=1)
