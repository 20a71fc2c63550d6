"""Cross-table re-derivation from snapshots, and fact history across runs."""

from __future__ import annotations

from transform.run import run_transform


def test_department_rename_re_emits_dim_staff_for_all_its_staff(lake) -> None:
    r = lake.row
    rows = lake.base_rows()
    rows["department"] = [r("department", 1), r("department", 2, department_name="Other")]
    rows["staff"] = [r("staff", 1), r("staff", 2), r("staff", 3, department_id=2)]
    lake.commit_ingest(1, rows)
    lake.commit_ingest(
        2,
        {
            "department": [
                r("department", 1, department_name="Renamed", location="York", last_updated="2024-01-05T00:00:00.000")
            ]
        },
    )

    run_transform(lake.ingest, lake.processed)

    staff = lake.rows(2, "dim_staff")
    assert [(s["staff_id"], s["department_name"], s["location"]) for s in staff] == [
        (1, "Renamed", "York"),
        (2, "Renamed", "York"),
    ]
    assert lake.rows(2, "dim_location") == []  # no address changed
    snap = lake.commit_record(2)["snapshots"]
    assert snap["department"].startswith("snapshot/department/0000000002-")
    assert snap["staff"].startswith("snapshot/staff/0000000001-")  # unchanged: still run 1's


def test_address_edit_re_emits_location_and_every_counterparty_using_it(lake) -> None:
    r = lake.row
    rows = lake.base_rows()
    rows["address"] = [r("address", 1), r("address", 2)]
    rows["counterparty"] = [
        r("counterparty", 1),
        r("counterparty", 2, legal_address_id=2),
        r("counterparty", 3, legal_address_id=2),
    ]
    lake.commit_ingest(1, rows)
    lake.commit_ingest(2, {"address": [r("address", 2, city="Hull", last_updated="2024-01-06T00:00:00.000")]})
    # Run 3 changes only a counterparty: it must still join run 2's address state.
    lake.commit_ingest(3, {"counterparty": [r("counterparty", 1, legal_address_id=2, counterparty_legal_name="Moved")]})

    run_transform(lake.ingest, lake.processed)

    assert [(x["location_id"], x["city"]) for x in lake.rows(2, "dim_location")] == [(2, "Hull")]
    assert [(x["counterparty_id"], x["counterparty_legal_city"]) for x in lake.rows(2, "dim_counterparty")] == [
        (2, "Hull"),
        (3, "Hull"),
    ]
    assert [
        (x["counterparty_id"], x["counterparty_legal_name"], x["counterparty_legal_city"])
        for x in lake.rows(3, "dim_counterparty")
    ] == [(1, "Moved", "Hull")]


def test_two_versions_of_a_sales_order_are_two_fact_rows(lake) -> None:
    r = lake.row
    rows = lake.base_rows()
    rows["sales_order"] = [r("sales_order", 7, units_sold=1)]
    lake.commit_ingest(1, rows)
    lake.commit_ingest(2, {"sales_order": [r("sales_order", 7, units_sold=2, last_updated="2024-01-09T10:00:00.500")]})

    run_transform(lake.ingest, lake.processed)

    versions = lake.rows(1, "fact_sales_order") + lake.rows(2, "fact_sales_order")
    assert [(v["sales_order_id"], v["units_sold"], str(v["last_updated_time"])) for v in versions] == [
        (7, 1, "03:04:05.123000"),
        (7, 2, "10:00:00.500000"),
    ]


def test_facts_resolve_foreign_keys_against_earlier_runs_state(lake) -> None:
    r = lake.row
    lake.commit_ingest(1, lake.base_rows())
    lake.commit_ingest(2, {"sales_order": [r("sales_order", 1)]})  # dims only in run 1's snapshot

    run_transform(lake.ingest, lake.processed)

    assert len(lake.rows(2, "fact_sales_order")) == 1
    assert lake.commit_record(2)["rows_quarantined"] == 0


def test_latest_version_in_a_run_wins_for_dimensions(lake) -> None:
    r = lake.row
    rows = lake.base_rows()
    rows["design"] = [
        r("design", 1, design_name="newest", last_updated="2024-01-03T00:00:00.000"),
        r("design", 1, design_name="older", last_updated="2024-01-02T00:00:00.000"),
    ]
    lake.commit_ingest(1, rows)

    run_transform(lake.ingest, lake.processed)

    assert [d["design_name"] for d in lake.rows(1, "dim_design")] == ["newest"]
