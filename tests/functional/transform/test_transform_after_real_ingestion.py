"""Real generator + real ingestion on a totesys database, then transform: counts add up."""

from __future__ import annotations

from common.s3_store import LakeStore
from common.source_tables import resolve_tables
from ingestion.run import run_ingestion
from local.generator import seed_database
from transform.run import run_transform


def test_transform_of_a_real_ingestion_run(pipeline, lake) -> None:
    counts = seed_database(pipeline.source.admin, seed=7, scale=0.05, bad_rows=True)
    con = pipeline.source.connect()
    try:
        run_ingestion(
            store=LakeStore(pipeline.resources.ingest_bucket, pipeline.aws.s3),
            ssm=pipeline.aws.ssm,
            connection=con,
            ssm_prefix=pipeline.resources.ssm_prefix,
            tables=resolve_tables(None),
        )
    finally:
        con.close()

    result = run_transform(lake.ingest, lake.processed)

    assert result.runs_committed == [1]
    record = lake.commit_record(1)
    quarantined = {t: e["rows"] for t, e in record["quarantine"].items()}
    # The generator's documented bad rows: three sales orders with bad text dates and
    # one payment with an empty payment_date; nothing else.
    assert quarantined == {"sales_order": 3, "payment": 1}
    assert {q["reason"] for q in lake.quarantined(1, "payment")} == {"unparseable date: payment_date"}
    tables = record["tables"]
    assert tables["fact_sales_order"]["rows"] == counts["sales_order"] - 3
    assert tables["fact_purchase_order"]["rows"] == counts["purchase_order"]
    assert tables["fact_payment"]["rows"] == counts["payment"] - 1
    for dim, source in (
        ("dim_staff", "staff"),
        ("dim_location", "address"),
        ("dim_counterparty", "counterparty"),
        ("dim_currency", "currency"),
        ("dim_design", "design"),
        ("dim_transaction", "transaction"),
        ("dim_payment_type", "payment_type"),
    ):
        assert tables[dim]["rows"] == counts[source], dim
    assert tables["dim_date"]["rows"] > 0
