"""Exchange rates through the whole pipeline on the real stack (PostgreSQL over TLS + moto).

The API is a local server (``local.fx_server``) answering recorded documents: a 500 then
the document, a gap (404), an implausible rate, a malformed document, a slow answer
past the timeout. The handlers run as in Lambda; the conversion functions are checked
against figures computed by hand (rate of the fact's date or the nearest earlier one).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from lake.keys import committed_runs
from lake.manifest import read_manifest
from local.fx_server import FxServer, Reply

SOURCE_SQL = """
INSERT INTO address (address_id, address_line_1, address_line_2, district, city, postal_code, country, phone,
                     created_at, last_updated) VALUES
 (1, '1 Tote Street', NULL, 'Leeds', 'Leeds', 'LS1 1AA', 'United Kingdom', '0113 000',
  '2024-01-01 09:00:00', '2024-01-01 09:00:00');
INSERT INTO counterparty (counterparty_id, counterparty_legal_name, legal_address_id, commercial_contact,
                          delivery_contact, created_at, last_updated) VALUES
 (1, 'Fahey and Sons', 1, 'Ann', 'Bob', '2024-01-01 09:00:00', '2024-01-01 09:00:00');
INSERT INTO currency (currency_id, currency_code, created_at, last_updated) VALUES
 (1, 'GBP', '2024-01-01 09:00:00', '2024-01-01 09:00:00'),
 (2, 'EUR', '2024-01-01 09:00:00', '2024-01-01 09:00:00'),
 (3, 'USD', '2024-01-01 09:00:00', '2024-01-01 09:00:00');
INSERT INTO department (department_id, department_name, location, manager, created_at, last_updated) VALUES
 (1, 'Sales', 'Manchester', 'Cat', '2024-01-01 09:00:00', '2024-01-01 09:00:00');
INSERT INTO design (design_id, design_name, file_location, file_name, created_at, last_updated) VALUES
 (1, 'Wooden', '/usr', 'wooden.json', '2024-01-01 09:00:00', '2024-01-01 09:00:00');
INSERT INTO staff (staff_id, first_name, last_name, department_id, email_address, created_at, last_updated) VALUES
 (1, 'Jeremie', 'Franey', 1, 'jeremie.franey@terrifictotes.com', '2024-01-01 09:00:00', '2024-01-01 09:00:00');
INSERT INTO payment_type (payment_type_id, payment_type_name, created_at, last_updated) VALUES
 (1, 'SALES_RECEIPT', '2024-01-01 09:00:00', '2024-01-01 09:00:00');
INSERT INTO sales_order (sales_order_id, design_id, staff_id, counterparty_id, units_sold, unit_price, currency_id,
                         agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id,
                         created_at, last_updated) VALUES
 (1, 1, 1, 1, 100, 2.50, 1, '2024-02-01', '2024-02-10', 1, '2024-01-05 10:00:00', '2024-01-05 10:00:00'),
 (2, 1, 1, 1, 7, 3.00, 2, '2024-02-01', '2024-02-10', 1, '2024-01-07 10:00:00', '2024-01-07 10:00:00'),
 (3, 1, 1, 1, 10, 9.99, 3, '2024-02-01', '2024-02-10', 1, '2024-01-08 10:00:00', '2024-01-08 10:00:00'),
 (4, 1, 1, 1, 1, 5.00, 2, '2024-02-01', '2024-02-10', 1, '2024-01-10 10:00:00', '2024-01-10 10:00:00');
INSERT INTO purchase_order (purchase_order_id, staff_id, counterparty_id, item_code, item_quantity, item_unit_price,
                            currency_id, agreed_delivery_date, agreed_payment_date, agreed_delivery_location_id,
                            created_at, last_updated) VALUES
 (1, 1, 1, 'ZDOI5EA', 40, 1.25, 2, '2024-02-02', '2024-02-03', 1, '2024-01-08 12:00:00', '2024-01-08 12:00:00');
INSERT INTO transaction (transaction_id, transaction_type, sales_order_id, purchase_order_id, created_at,
                         last_updated) VALUES
 (1, 'SALE', 1, NULL, '2024-01-05 10:00:00', '2024-01-05 10:00:00'),
 (2, 'SALE', 2, NULL, '2024-01-07 10:00:00', '2024-01-07 10:00:00'),
 (3, 'SALE', 3, NULL, '2024-01-08 10:00:00', '2024-01-08 10:00:00'),
 (4, 'SALE', 4, NULL, '2024-01-10 10:00:00', '2024-01-10 10:00:00');
INSERT INTO payment (payment_id, transaction_id, counterparty_id, payment_amount, currency_id, payment_type_id, paid,
                     payment_date, company_ac_number, counterparty_ac_number, created_at, last_updated) VALUES
 (1, 1, 1, 250.00, 3, 1, true, '2024-01-05', 123, 456, '2024-01-05 11:00:00', '2024-01-05 11:00:00'),
 (2, 2, 1, 10.00, 1, 1, true, '2024-01-09', 123, 456, '2024-01-05 11:00:00', '2024-01-05 11:00:00'),
 (3, 3, 1, 20.00, 1, 1, false, '2099-01-01', 123, 456, '2024-01-05 11:00:00', '2024-01-05 11:00:00'),
 (4, 4, 1, 5.00, 3, 1, true, '2024-01-01', 123, 456, '2024-01-05 11:00:00', '2024-01-05 11:00:00');
"""


def _doc(day: str, rates: dict[str, float], delay_s: float = 0.0) -> Reply:
    return Reply.document(day, "gbp", rates, delay_s)


# What the API answers per date (each request takes the next reply; the last repeats).
ROUTES = {
    "2024-01-05/gbp": [Reply(500), _doc("2024-01-05", {"gbp": 1, "eur": 1.16, "usd": 1.27, "jpy": 180.1})],
    # 2024-01-07: no route, a 404 (a gap in the API)
    "2024-01-08/gbp": [_doc("2024-01-08", {"gbp": 1, "eur": 1.18, "usd": 13.0})],  # USD 10x off 01-05
    "2024-01-09/gbp": [Reply(200, b"<html>Bandwidth exceeded</html>")],  # malformed
    "2024-01-10/gbp": [
        _doc("2024-01-10", {"gbp": 1, "eur": 1.2, "usd": 1.3}, delay_s=3),
        _doc("2024-01-10", {"gbp": 1, "eur": 1.19, "usd": 1.28}),
    ],
}


@pytest.fixture
def fx_env(pipeline: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    pipeline.source.admin.run(SOURCE_SQL)
    monkeypatch.setenv("FX_TIMEOUT_SECONDS", "1")
    monkeypatch.setenv("FX_MISSING_RETRIES", "2")
    return pipeline


def _cycle() -> dict[str, Any]:
    from ingestion.handler import lambda_handler as ingest
    from load.handler import FOLD_EVENT
    from load.handler import lambda_handler as load
    from transform.handler import lambda_handler as transform

    summary = ingest({}, None)
    transform({}, None)
    load({}, None)
    load(dict(FOLD_EVENT), None)  # the fold the load function asks itself for in AWS
    return summary


def _values(wh: Any, function: str, currency: str) -> dict[int, tuple[Any, ...]]:
    rows = wh.run(
        f"SELECT * FROM analytics.{function}(:c)",
        c=currency,
    )
    return {r[1]: (r[3], r[4], r[6].isoformat() if r[6] else None, r[7], r[8]) for r in rows}


def test_rates_flow_through_and_facts_convert_with_the_nearest_earlier_rate(fx_env, monkeypatch) -> None:
    with FxServer(ROUTES) as api:
        monkeypatch.setenv("FX_RATES_URL", api.url_template)
        summary = _cycle()
        assert summary["status"] == "committed"
        assert summary["run_seq"] == 1
        fx = summary["fx_rates"]
        assert fx["status"] == "committed"
        assert fx["run_seq"] == 2
        assert fx["dates_asked"] == 6  # 2099-01-01 is in the future: never asked
        assert fx["dates_missing"] == 3  # 01-01 and 01-07 (404) and the malformed document
        assert fx["rates"] == 3 + 2 + 3  # 01-05, 01-08 (USD rejected), 01-10
        assert fx["rejected"] == 2  # USD 10x off, the malformed document
        assert api.requests.count("2024-01-05/gbp") == 2  # a 500, then the document
        assert api.requests.count("2024-01-10/gbp") == 2  # too slow, then the document
        assert "2099-01-01/gbp" not in api.requests

    wh = fx_env.warehouse.admin
    rates = wh.run("SELECT currency_code, rate_date::text, rate, base_currency, run_seq FROM fx_rate ORDER BY 2, 1")
    assert [r[:3] for r in rates] == [
        ["EUR", "2024-01-05", Decimal("1.16")],
        ["GBP", "2024-01-05", Decimal("1")],
        ["USD", "2024-01-05", Decimal("1.27")],
        ["EUR", "2024-01-08", Decimal("1.18")],
        ["GBP", "2024-01-08", Decimal("1")],
        ["EUR", "2024-01-10", Decimal("1.19")],
        ["GBP", "2024-01-10", Decimal("1.00")],
        ["USD", "2024-01-10", Decimal("1.28")],
    ]
    assert {r[3] for r in rates} == {"GBP"}
    assert {r[4] for r in rates} == {2}

    # By hand: value * to_rate / from_rate, rounded to cents; the rate of the date or the nearest earlier.
    gbp = _values(wh, "sales_order_values", "GBP")
    assert gbp[1] == ("GBP", Decimal("250.0000"), "2024-01-05", 0, Decimal("250.00"))
    assert gbp[2] == ("EUR", Decimal("21.0000"), "2024-01-05", 2, Decimal("18.10"))  # 01-07 is a gap: 21 / 1.16
    assert gbp[3] == ("USD", Decimal("99.9000"), "2024-01-05", 3, Decimal("78.66"))  # 01-08's USD was rejected
    assert gbp[4] == ("EUR", Decimal("5.0000"), "2024-01-10", 0, Decimal("4.20"))  # 5 / 1.19 = 4.2016...
    usd = _values(wh, "sales_order_values", "usd")
    assert usd[1][2:] == ("2024-01-05", 0, Decimal("317.50"))  # 250 * 1.27
    assert usd[2][2:] == ("2024-01-05", 2, Decimal("22.99"))  # 21 * 1.27 / 1.16 = 22.991...
    assert usd[3][2:] == ("2024-01-08", 0, Decimal("99.90"))  # same currency: no rate needed
    assert _values(wh, "purchase_order_values", "GBP")[1][2:] == ("2024-01-08", 0, Decimal("42.37"))  # 50 / 1.18
    pay = _values(wh, "payment_values", "GBP")
    assert pay[1][2:] == ("2024-01-05", 0, Decimal("196.85"))  # 250 / 1.27
    assert pay[2][2:] == ("2024-01-09", 0, Decimal("10.00"))  # GBP to GBP on a date without a document
    assert pay[3][2:] == ("2099-01-01", 0, Decimal("20.00"))
    assert pay[4][2:] == (None, None, None)  # no USD rate on or before 2024-01-01: no value, no gap
    assert wh.run("SELECT * FROM analytics.sales_order_values_gbp ORDER BY 2") == wh.run(
        "SELECT * FROM analytics.sales_order_values('GBP') ORDER BY 2"
    )
    _the_apps_role_reads_the_conversions(fx_env)
    _the_dashboard_converts_with_the_loaded_rates(wh)
    _reconciles_against_the_lake(fx_env)


def _the_apps_role_reads_the_conversions(pipeline: Any) -> None:
    """warehouse_reader (the dashboard's role) may call the functions and read the views, nothing more."""
    import dataclasses
    import uuid

    import pg8000.native

    from common.db import connect
    from local.stack import READER_ROLE

    role, password = f"fx_reader_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    admin = pipeline.warehouse.admin
    admin.run(f"CREATE ROLE {role} LOGIN PASSWORD {pg8000.native.literal(password)} IN ROLE {READER_ROLE}")
    try:
        creds = dataclasses.replace(pipeline.warehouse.credentials, username=role, password=password)
        con = connect(creds, "totes-fx-test")
        try:
            assert con.run("SELECT * FROM analytics.payment_values_gbp ORDER BY 2") == admin.run(
                "SELECT * FROM analytics.payment_values('GBP') ORDER BY 2"
            )
            assert len(con.run("SELECT * FROM analytics.purchase_order_values('EUR')")) == 1
            with pytest.raises(pg8000.native.DatabaseError, match="permission denied"):
                con.run("SELECT count(*) FROM pipeline.fact_payment_current")  # still not directly
        finally:
            con.close()
    finally:
        admin.run(f"DROP ROLE {role}")


def _the_dashboard_converts_with_the_loaded_rates(wh: Any) -> None:
    """The pages' conversion (dashboard.money) over the rates as the load stored them: each month's
    average of the days on which both currencies have a rate (GBP, the base, stored as 1)."""
    from datetime import date

    from dashboard.filters import Filters
    from dashboard.money import Converted, monthly_rates
    from dashboard.purchases import purchases_page
    from dashboard.sales import sales_page

    jan = date(2024, 1, 1)
    rates = monthly_rates(wh, "GBP", [jan])
    # EUR: 01-05, 01-08, 01-10 (1.16, 1.18, 1.19); USD: 01-05, 01-10 (01-08's was rejected)
    eur = (1 / Decimal("1.16") + 1 / Decimal("1.18") + 1 / Decimal("1.19")) / 3
    usd = (1 / Decimal("1.27") + 1 / Decimal("1.28")) / 2
    assert abs(rates.rate[jan, "EUR"] - eur) < Decimal("1e-15")
    assert abs(rates.rate[jan, "USD"] - usd) < Decimal("1e-15")
    assert set(rates.rate) == {(jan, "EUR"), (jan, "USD")}
    # Sales in January: GBP 250.00, EUR 21.00 + 5.00 (26.00 x 0.849954... = 22.0988 -> 22.10),
    # USD 99.90 (x 0.784326 = 78.3541 -> 78.35)
    sales = sales_page(wh, Filters())
    assert rates.total(sales.cells) == Converted("GBP", Decimal("350.45"))
    # Payments: January USD 250.00 + 5.00 (x 0.784326 = 200.0031 -> 200.00) + GBP 10.00; 2099: GBP 20.00
    payments = purchases_page(wh, Filters())
    both = monthly_rates(wh, "GBP", [m for m, _ in payments.payment_cells])
    assert both.total(payments.payment_cells) == Converted("GBP", Decimal("230.00"))


def _fx_report(pipeline: Any) -> Any:
    from ops.reconcile import ReconcileReport
    from ops.reconcile_fx import check_fx_rates

    report = ReconcileReport()
    ingest = _ingest_store(pipeline)
    check_fx_rates(ingest, pipeline.aws.ssm, pipeline.resources.ssm_prefix, pipeline.warehouse.admin, report)
    return report


def _reconciles_against_the_lake(pipeline: Any) -> None:
    report = _fx_report(pipeline)
    assert report.ok, report.summary()
    assert report.checked["fx_rate"] == 8
    wh = pipeline.warehouse.admin
    wh.run("DELETE FROM fx_rate WHERE currency_code = 'EUR' AND rate_date = '2024-01-08'")
    wh.run("UPDATE fx_rate SET rate = 1.2800001 WHERE currency_code = 'USD' AND rate_date = '2024-01-05'")
    wh.run("INSERT INTO fx_rate VALUES ('USD', '2024-01-08', 13.0, 'GBP', 'by hand', 2)")  # the rejected rate
    found = sorted((d.key, d.column, d.actual) for d in _fx_report(pipeline).differences)
    assert found == [
        ("currency_code/rate_date=EUR 2024-01-08", "<row>", "missing"),
        ("currency_code/rate_date=USD 2024-01-05", "rate", Decimal("1.2800001")),
        ("currency_code/rate_date=USD 2024-01-08", "<row>", "present"),
    ]


def _quarantined(pipeline: Any, seq: int) -> list[str]:
    from common.s3_store import LakeStore
    from lake.commit_record import read_commit_record
    from lake.quarantine import decode_records

    processed = LakeStore(pipeline.resources.processed_bucket, pipeline.aws.s3)
    entry = read_commit_record(processed, seq).quarantine.get("fx_rate")
    return [] if entry is None else [r["reason"] for r in decode_records(processed.get_text_lines(str(entry.key)))]


def test_missing_dates_are_asked_again_a_bounded_number_of_times_and_bad_rates_are_quarantined(
    fx_env, monkeypatch
) -> None:
    ingest = _ingest_store(fx_env)
    with FxServer(ROUTES) as api:
        monkeypatch.setenv("FX_RATES_URL", api.url_template)
        first = _cycle()["fx_rates"]
        reasons = _quarantined(fx_env, first["run_seq"])
        assert len(reasons) == 2
        assert any(
            r.startswith("implausible rate for USD: 13.0 is more than 10x away from 2024-01-05") for r in reasons
        )
        assert any(r.startswith("malformed document: not JSON") for r in reasons)
        manifest = read_manifest(ingest, first["run_seq"])
        assert manifest is not None
        assert manifest.tables == {}
        assert manifest.fx_rates is not None
        assert set(manifest.fx_rates.missing) == {"2024-01-01", "2024-01-07", "2024-01-09"}

        api.requests.clear()
        second = _cycle()["fx_rates"]  # the missing dates, once more (FX_MISSING_RETRIES=2)
        assert sorted(api.requests) == ["2024-01-01/gbp", "2024-01-07/gbp", "2024-01-09/gbp"]
        assert second["dates_missing"] == 3
        assert second["rates"] == 0

        api.requests.clear()
        third = _cycle()
        assert api.requests == []  # given up: asked twice
        assert third["fx_rates"]["status"] == "nothing to do"
        assert third["fx_rates"]["run_seq"] is None
    seqs = list(committed_runs(ingest))
    assert seqs == [1, 2, 3, 4, 5]  # tables, rates, tables, rates, tables
    loaded = fx_env.warehouse.admin.run("SELECT max(run_seq) FROM pipeline.load_ledger")[0][0]
    assert loaded == 5
    assert fx_env.warehouse.admin.run("SELECT count(*) FROM fx_rate")[0][0] == 8  # nothing twice


def _ingest_store(pipeline: Any) -> Any:
    from common.s3_store import LakeStore

    return LakeStore(pipeline.resources.ingest_bucket, pipeline.aws.s3)


def test_a_rates_outage_does_not_block_the_tables(fx_env, monkeypatch) -> None:
    api = FxServer({}).start()
    template = api.url_template
    api.stop()  # nothing listens: every request fails to connect
    monkeypatch.setenv("FX_RATES_URL", template)
    summary = _cycle()
    assert summary["status"] == "committed"
    assert summary["tables"]["sales_order"] == 4
    assert "connection failed" in summary["fx_rates"]["unavailable"]
    assert summary["fx_rates"]["dates_asked"] == 0  # the first outage stops the step
    assert summary["fx_rates"]["status"] == "committed"  # only the dates the facts reference, for later
    again = _cycle()  # the outage goes on: no new date, nothing answered, so no rates run at all
    assert again["status"] == "committed"
    assert again["fx_rates"]["status"] == "nothing to do"
    assert list(committed_runs(_ingest_store(fx_env))) == [1, 2, 3]
    wh = fx_env.warehouse.admin
    assert wh.run("SELECT count(*) FROM fact_sales_order")[0][0] == 4
    assert wh.run("SELECT count(*) FROM fx_rate")[0][0] == 0
    # Before any rate: every fact in another currency converts to NULL, never to a wrong figure.
    gbp = _values(wh, "sales_order_values", "GBP")
    assert gbp[2][2:] == (None, None, None)
    assert gbp[1][2:] == ("2024-01-05", 0, Decimal("250.00"))


def test_a_failing_rates_step_is_logged_and_never_fails_the_invocation(fx_env, monkeypatch, capsys, caplog) -> None:
    # SSM names a state object that is not there: the step raises (StateError) after the tables committed.
    prefix = fx_env.resources.ssm_prefix
    fx_env.aws.ssm.put_parameter(
        Name=f"{prefix}/ingestion/fx_rates_state", Value="state/fx-rates/0000000009-abc.json.gz", Type="String"
    )
    with FxServer(ROUTES) as api:
        monkeypatch.setenv("FX_RATES_URL", api.url_template)
        summary = _cycle()
        assert api.requests == []
    assert summary["status"] == "committed"
    assert summary["run_seq"] == 1
    assert summary["fx_rates"]["status"] == "failed"
    assert "does not exist" in summary["fx_rates"]["error"]
    errors = [rec.getMessage() for rec in caplog.records if rec.levelname == "ERROR"]
    assert errors == ["exchange-rate step failed; the table run is committed"]  # the error-lines alarm
    emf = [json.loads(x) for x in capsys.readouterr().out.splitlines() if '"FxRatesFailed"' in x]
    assert [m["FxRatesFailed"] for m in emf] == [[1.0]]
    assert fx_env.warehouse.admin.run("SELECT count(*) FROM fact_sales_order")[0][0] == 4
