"""The window queries: allow-listed identifiers only, bounds read from bound settings."""

from __future__ import annotations

from datetime import datetime

from common.source_tables import SOURCE_TABLES
from ingestion.extract import LOWER_SETTING, UPPER_SETTING, build_copy, build_select
from lake.keys import data_key, recent_keys_key


def test_select_names_only_contract_columns_in_contract_order_and_no_values() -> None:
    sql = build_select(SOURCE_TABLES["sales_order"])
    assert sql.startswith('SELECT s."sales_order_id", s."design_id", s."staff_id",')
    assert 's."agreed_delivery_location_id", s."created_at", s."last_updated" FROM "sales_order" AS s' in sql
    assert f"current_setting('{LOWER_SETTING}')::timestamp" in sql
    assert f"current_setting('{UPPER_SETTING}')::timestamp" in sql
    assert sql.endswith('ORDER BY s.last_updated, s."sales_order_id"')
    assert "2026" not in sql


def test_reserved_word_table_is_quoted() -> None:
    assert 'FROM "transaction" AS s' in build_select(SOURCE_TABLES["transaction"])


def test_copy_sends_raw_values_as_csv() -> None:
    sql = build_copy(SOURCE_TABLES["currency"])
    assert sql.startswith('COPY (SELECT s."currency_id", s."currency_code", s."created_at", s."last_updated"')
    assert sql.endswith(") TO STDOUT (FORMAT csv)")


def test_object_keys_follow_the_bucket_layout() -> None:
    assert data_key("sales_order", 42, "3f2a9c0d1b7e", datetime(2026, 11, 22, 10)) == (
        "data/sales_order/2026-11-22/0000000042-3f2a9c0d1b7e.jsonl.gz"
    )
    assert recent_keys_key(42, "3f2a9c0d1b7e") == "state/recent-keys/0000000042-3f2a9c0d1b7e.json.gz"
