"""The generator against a real totesys: COPY round trip, hard cases, FKs, determinism."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pg8000.native
import pyarrow as pa
import pytest
from pg8000.native import identifier

from common.source_tables import SOURCE_TABLES, TABLE_ORDER, ColumnType
from local import generator_values as values
from local.generator import GeneratorError, copy_rows, generate_tables, seed_database
from local.paths import SQL_DIR

SCALE = 0.2


def _rows(con: pg8000.native.Connection, table: str) -> list[tuple[Any, ...]]:
    columns = SOURCE_TABLES[table].column_names
    select = ", ".join(identifier(c) for c in columns)
    return [tuple(r) for r in con.run(f"SELECT {select} FROM {identifier(table)} ORDER BY 1")]


def _fingerprint(con: pg8000.native.Connection) -> dict[str, str]:
    """md5 of each table's rows as PostgreSQL renders them (NULL and '' render differently)."""
    return {
        t: con.run(f"SELECT md5(string_agg(x::text, E'\\n' ORDER BY 1)) FROM {identifier(t)} x")[0][0]
        for t in TABLE_ORDER
    }


def _generated(seed: int, scale: float) -> dict[str, list[tuple[Any, ...]]]:
    out: dict[str, list[tuple[Any, ...]]] = {t: [] for t in TABLE_ORDER}
    for name, rows in generate_tables(seed=seed, scale=scale):
        out[name].extend(tuple(r.values()) for r in rows.to_pylist())
    return out


def _count(con: pg8000.native.Connection, sql: str, **params: Any) -> int:
    return int(con.run(sql, **params)[0][0])


@pytest.fixture
def seeded(source_db: Any) -> pg8000.native.Connection:
    counts = seed_database(source_db.admin, seed=11, scale=SCALE)
    assert counts["sales_order"] == 1_000
    return source_db.admin


def test_every_value_round_trips_exactly(seeded: pg8000.native.Connection) -> None:
    expected = _generated(seed=11, scale=SCALE)
    for table in TABLE_ORDER:
        assert _rows(seeded, table) == expected[table], table


def test_copy_keeps_every_hard_string_null_and_empty_string_apart(source_db: Any) -> None:
    texts = list(values.HARD_TEXT.values())
    n = len(texts) + 2
    line_2 = [*texts, None, ""]
    rows = pa.table(
        {
            "address_id": pa.array(range(1, n + 1), pa.int32()),
            "address_line_1": pa.array(["x"] * n),
            "address_line_2": pa.array(line_2, pa.string()),
            "district": pa.array([None, ""] * (n // 2), pa.string()),
            "city": pa.array(["\\N"] * n),  # COPY text format's NULL marker is plain text in CSV
            "postal_code": pa.array(['"'] * n),
            "country": pa.array([","] * n),
            "phone": pa.array(["\r\n"] * n),
            "created_at": pa.array([datetime(2024, 1, 2, 3, 4, 5, 678000)] * n, pa.timestamp("ms")),
            "last_updated": pa.array([datetime(2024, 1, 2, 3, 4, 5, 678000)] * n, pa.timestamp("ms")),
        }
    )
    source_db.admin.run("START TRANSACTION")
    copy_rows(source_db.admin, "address", rows)
    source_db.admin.run("COMMIT")
    assert _rows(source_db.admin, "address") == [tuple(r.values()) for r in rows.to_pylist()]
    got = source_db.admin.run("SELECT convert_to(address_line_2, 'UTF8') FROM address ORDER BY address_id")
    assert [r[0] for r in got] == [None if t is None else t.encode() for t in line_2]  # byte for byte


def test_hard_text_is_present_after_loading(seeded: pg8000.native.Connection) -> None:
    for case, text in values.HARD_TEXT.items():
        assert _count(seeded, "SELECT count(*) FROM address WHERE address_line_1 = :t", t=text) == 1, case
    for name in values.HARD_COUNTERPARTY_NAMES:
        assert _count(seeded, "SELECT count(*) FROM counterparty WHERE counterparty_legal_name = :n", n=name) == 1
    for first, last in values.HARD_STAFF:
        assert _count(seeded, "SELECT count(*) FROM staff WHERE first_name = :f AND last_name = :l", f=first, l=last)
    for name in values.HARD_DESIGN_NAMES:
        assert _count(seeded, "SELECT count(*) FROM design WHERE design_name = :n", n=name) == 1
    # Each awkward character appears somewhere in the loaded text, found by PostgreSQL itself.
    everything = (
        "SELECT string_agg(concat_ws('|', address_line_1, address_line_2, district), '|') FROM address"
        " UNION ALL SELECT string_agg(counterparty_legal_name, '|') FROM counterparty"
        " UNION ALL SELECT string_agg(first_name || last_name, '|') FROM staff"
        " UNION ALL SELECT string_agg(design_name, '|') FROM design"
        " UNION ALL SELECT string_agg(department_name, '|') FROM department"
    )
    blob = "".join(r[0] for r in seeded.run(everything))
    for char in ("'", '"', ",", "\n", "\r\n", "\t", "\\", "é", "ß", "中文", "👜"):
        assert char in blob, repr(char)


def test_null_in_every_nullable_column_and_empty_string_beside_it(seeded: pg8000.native.Connection) -> None:
    for table in TABLE_ORDER:
        for column in SOURCE_TABLES[table].columns:
            if column.nullable:
                sql = f"SELECT count(*) FROM {identifier(table)} WHERE {identifier(column.name)} IS NULL"
                assert _count(seeded, sql) > 0, (table, column.name)
    for table, column in (
        ("address", "address_line_2"),
        ("address", "district"),
        ("counterparty", "commercial_contact"),
        ("counterparty", "delivery_contact"),
    ):
        assert _count(seeded, f"SELECT count(*) FROM {identifier(table)} WHERE {identifier(column)} = ''") > 0


def test_many_sales_orders_share_one_last_updated_at_scale_1(source_db: Any) -> None:
    seed_database(source_db.admin, seed=5, scale=1)
    largest = _count(
        source_db.admin, "SELECT max(n) FROM (SELECT count(*) AS n FROM sales_order GROUP BY last_updated) g"
    )
    assert largest >= 1_000


def test_timestamps_in_range_and_never_updated_before_created(seeded: pg8000.native.Connection) -> None:
    for table in TABLE_ORDER:
        t = identifier(table)
        assert _count(seeded, f"SELECT count(*) FROM {t} WHERE last_updated < created_at") == 0, table
        lo, hi = seeded.run(f"SELECT min(created_at), max(last_updated) FROM {t}")[0]
        assert lo >= datetime(2022, 11, 1)
        assert hi < datetime(2025, 11, 1)
    for table in ("sales_order", "purchase_order", "transaction"):
        t = identifier(table)
        same = _count(seeded, f"SELECT count(*) FROM {t} WHERE last_updated = created_at")
        assert same > _count(seeded, f"SELECT count(*) FROM {t}") / 2, table


def test_references_are_consistent_including_those_without_a_foreign_key(seeded: pg8000.native.Connection) -> None:
    dangling = {
        "payment.counterparty_id": "SELECT count(*) FROM payment p"
        " WHERE NOT EXISTS (SELECT 1 FROM counterparty c WHERE c.counterparty_id = p.counterparty_id)",
        "payment.currency_id": "SELECT count(*) FROM payment p"
        " WHERE NOT EXISTS (SELECT 1 FROM currency c WHERE c.currency_id = p.currency_id)",
        "payment.payment_type_id": "SELECT count(*) FROM payment p"
        " WHERE NOT EXISTS (SELECT 1 FROM payment_type c WHERE c.payment_type_id = p.payment_type_id)",
        "transaction type vs ids": "SELECT count(*) FROM transaction WHERE NOT ("
        " (transaction_type = 'SALE' AND sales_order_id IS NOT NULL AND purchase_order_id IS NULL) OR"
        " (transaction_type = 'PURCHASE' AND purchase_order_id IS NOT NULL AND sales_order_id IS NULL))",
        "payment type vs transaction type": "SELECT count(*) FROM payment p"
        " JOIN transaction t USING (transaction_id) JOIN payment_type y USING (payment_type_id)"
        " WHERE (t.transaction_type = 'SALE') <> (y.payment_type_name::text LIKE 'SALES_%')",
        "payment counterparty/currency/amount vs order": "SELECT count(*) FROM payment p"
        " JOIN transaction t USING (transaction_id)"
        " LEFT JOIN sales_order s ON s.sales_order_id = t.sales_order_id"
        " LEFT JOIN purchase_order o ON o.purchase_order_id = t.purchase_order_id"
        " WHERE p.counterparty_id <> coalesce(s.counterparty_id, o.counterparty_id)"
        " OR p.currency_id <> coalesce(s.currency_id, o.currency_id)"
        " OR p.payment_amount <> coalesce(s.units_sold * s.unit_price, o.item_quantity * o.item_unit_price)",
        "order without a transaction": "SELECT (SELECT count(*) FROM sales_order) + (SELECT count(*) FROM"
        " purchase_order) - (SELECT count(*) FROM transaction)",
    }
    for what, sql in dangling.items():
        assert _count(seeded, sql) == 0, what
    # The declared foreign keys and UNIQUE constraints are back after the bulk load.
    kinds = seeded.run(
        "SELECT contype::text, count(*) FROM pg_constraint WHERE connamespace = 'public'::regnamespace"
        " AND contype IN ('f', 'u') GROUP BY 1 ORDER BY 1"
    )
    ddl = (SQL_DIR / "totesys" / "schema.sql").read_text()
    assert [tuple(k) for k in kinds] == [("f", ddl.count(" REFERENCES ")), ("u", ddl.count(" UNIQUE"))]
    indexes = _count(seeded, "SELECT count(*) FROM pg_indexes WHERE indexname LIKE '%last_updated_idx'")
    assert indexes == 11


def test_sequences_continue_after_the_loaded_ids(seeded: pg8000.native.Connection) -> None:
    for table in TABLE_ORDER:
        pk = SOURCE_TABLES[table].primary_key
        top = _count(seeded, f"SELECT max({identifier(pk)}) FROM {identifier(table)}")
        assert _count(seeded, "SELECT nextval(pg_get_serial_sequence(:t, :c))", t=table, c=pk) == top + 1, table


def test_prisma_migrations_has_rows_the_pipeline_must_skip(seeded: pg8000.native.Connection) -> None:
    assert _count(seeded, "SELECT count(*) FROM _prisma_migrations WHERE finished_at IS NOT NULL") == 2


def test_same_seed_gives_identical_databases_and_another_seed_does_not(
    seeded: pg8000.native.Connection, second_source_db: Any
) -> None:
    seed_database(second_source_db.admin, seed=11, scale=SCALE)
    first = _fingerprint(seeded)
    assert _fingerprint(second_source_db.admin) == first
    # Start again from empty with another seed (same database: TRUNCATE resets the ids).
    tables = ", ".join(identifier(t) for t in TABLE_ORDER)
    second_source_db.admin.run(f"TRUNCATE {tables}, _prisma_migrations RESTART IDENTITY")
    seed_database(second_source_db.admin, seed=12, scale=SCALE)
    other = _fingerprint(second_source_db.admin)
    for table in ("address", "counterparty", "design", "staff", "sales_order", "purchase_order", "payment"):
        assert other[table] != first[table], table


def test_refuses_a_database_that_is_not_empty(seeded: pg8000.native.Connection) -> None:
    before = _fingerprint(seeded)
    with pytest.raises(GeneratorError, match="not empty"):
        seed_database(seeded, seed=11, scale=SCALE)
    assert _fingerprint(seeded) == before


def test_bad_rows_load_and_are_the_documented_ones(source_db: Any) -> None:
    counts = seed_database(source_db.admin, seed=11, scale=SCALE, bad_rows=True)
    con = source_db.admin
    assert counts["sales_order"] == 1_003
    bad_dates = _count(
        con,
        "SELECT count(*) FROM sales_order WHERE agreed_delivery_date !~ '^\\d{4}-\\d{2}-\\d{2}$'"
        " OR agreed_payment_date !~ '^\\d{4}-\\d{2}-\\d{2}$' OR agreed_delivery_date = '2023-02-30'",
    )
    assert bad_dates == 3
    assert _count(con, "SELECT count(*) FROM payment WHERE currency_id = 99 AND payment_date = ''") == 1


def test_text_columns_are_text_and_dates_are_text(seeded: pg8000.native.Connection) -> None:
    """The contract's types survive: text dates come back as str, numerics as Decimal."""
    row = seeded.run("SELECT agreed_delivery_date, unit_price FROM sales_order ORDER BY 1 LIMIT 1")[0]
    assert isinstance(row[0], str)
    assert type(row[1]).__name__ == "Decimal"
    text_columns = [c for t in TABLE_ORDER for c in SOURCE_TABLES[t].columns if c.type is ColumnType.TEXT_DATE]
    assert len(text_columns) == 5
