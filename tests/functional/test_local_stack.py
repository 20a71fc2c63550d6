"""The local stack's databases: schema as SPEC §1/§2, roles, idempotent migrations."""

from __future__ import annotations

import pg8000.native
import pytest

from common.source_tables import SOURCE_TABLES, ColumnType
from load.schema import discover, migrate

# information_schema data_type for each contract type
_PG_TYPE = {
    ColumnType.INTEGER: "integer",
    ColumnType.NUMERIC: "numeric",
    ColumnType.TEXT: "text",
    ColumnType.TEXT_DATE: "text",
    ColumnType.TIMESTAMP: "timestamp without time zone",
    ColumnType.BOOLEAN: "boolean",
    ColumnType.ENUM: "USER-DEFINED",
}


def test_source_schema_matches_the_contract(source_db) -> None:
    rows = source_db.admin.run(
        "SELECT table_name, column_name, data_type, is_nullable, datetime_precision, numeric_precision, numeric_scale"
        " FROM information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"
    )
    live: dict[str, list[tuple]] = {}
    for table, column, data_type, nullable, dt_precision, num_precision, num_scale in rows:
        live.setdefault(table, []).append(
            (column, data_type, nullable == "YES", dt_precision, num_precision, num_scale)
        )
    assert "_prisma_migrations" in live, "the migration table must exist so the pipeline has to skip it"
    assert set(live) - {"_prisma_migrations"} == set(SOURCE_TABLES)
    for name, table in SOURCE_TABLES.items():
        cols = live[name]
        assert [c[0] for c in cols] == list(table.column_names), name
        for (column, data_type, nullable, dt_precision, num_precision, num_scale), spec in zip(
            cols, table.columns, strict=True
        ):
            expected = "character varying" if column == "currency_code" else _PG_TYPE[spec.type]
            assert data_type == expected, f"{name}.{column}"
            assert nullable == spec.nullable, f"{name}.{column}"
            if spec.type is ColumnType.TIMESTAMP:
                assert dt_precision == 3, f"{name}.{column} must be timestamp(3)"
            if spec.type is ColumnType.NUMERIC:
                assert (num_precision, num_scale) == (10, 2), f"{name}.{column}"


def test_source_foreign_keys_and_delete_rules(source_db) -> None:
    rows = source_db.admin.run(
        "SELECT tc.table_name, kcu.column_name, ccu.table_name, rc.update_rule, rc.delete_rule"
        " FROM information_schema.table_constraints tc"
        " JOIN information_schema.key_column_usage kcu USING (constraint_schema, constraint_name)"
        " JOIN information_schema.constraint_column_usage ccu USING (constraint_schema, constraint_name)"
        " JOIN information_schema.referential_constraints rc USING (constraint_schema, constraint_name)"
        " WHERE tc.constraint_type = 'FOREIGN KEY'"
    )
    fks = {(t, c): (ref, upd, dele) for t, c, ref, upd, dele in rows}
    assert fks[("transaction", "sales_order_id")] == ("sales_order", "CASCADE", "SET NULL")
    assert fks[("transaction", "purchase_order_id")] == ("purchase_order", "CASCADE", "SET NULL")
    assert fks[("staff", "department_id")] == ("department", "CASCADE", "RESTRICT")
    assert fks[("counterparty", "legal_address_id")] == ("address", "CASCADE", "RESTRICT")
    assert fks[("payment", "transaction_id")] == ("transaction", "CASCADE", "RESTRICT")
    assert fks[("sales_order", "agreed_delivery_location_id")] == ("address", "CASCADE", "RESTRICT")
    enums = source_db.admin.run(
        "SELECT t.typname, array_agg(e.enumlabel ORDER BY e.enumsortorder) FROM pg_type t"
        " JOIN pg_enum e ON e.enumtypid = t.oid GROUP BY t.typname"
    )
    assert dict((n, tuple(v)) for n, v in enums) == {
        "PaymentTypeName": ("SALES_RECEIPT", "SALES_REFUND", "PURCHASE_PAYMENT", "PURCHASE_REFUND"),
        "TransactionType": ("SALE", "PURCHASE"),
    }


def test_pipeline_role_can_only_read_totesys(source_db) -> None:
    con = source_db.connect()
    try:
        assert con.run("SELECT count(*) FROM sales_order") == [[0]]
        with pytest.raises(pg8000.native.DatabaseError, match="permission denied"):
            con.run("INSERT INTO currency (currency_code, last_updated) VALUES ('GBP', now())")
    finally:
        con.close()


def test_warehouse_migration_is_idempotent(warehouse_db) -> None:
    con = warehouse_db.connect()
    try:
        assert migrate(con) == [], "the template is migrated already, so nothing is pending"
        assert migrate(con) == []
        applied = [r[0] for r in con.run("SELECT version FROM pipeline.schema_migrations ORDER BY version")]
        assert applied == [m.version for m in discover()]
        tables = {
            r[0]
            for r in con.run(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
                " AND table_type = 'BASE TABLE'"
            )
        }
        assert {
            "dim_date",
            "dim_staff",
            "dim_location",
            "dim_currency",
            "dim_design",
            "dim_counterparty",
            "dim_payment_type",
            "dim_transaction",
            "fact_sales_order",
            "fact_purchase_order",
            "fact_payment",
        } <= tables
    finally:
        con.close()


def test_fact_version_is_unique(warehouse_db) -> None:
    rows = warehouse_db.admin.run(
        "SELECT conname FROM pg_constraint WHERE contype = 'u' AND conrelid::regclass::text LIKE 'fact_%'"
    )
    assert {r[0] for r in rows} == {
        "fact_sales_order_version_uq",
        "fact_purchase_order_version_uq",
        "fact_payment_version_uq",
    }
