"""The client-side renderer writes, byte for byte, the JSON lines the server used to render.

The oracle is the former SQL rendering (string concatenation of ``to_json`` /
``to_char`` / ``::text``, kept here only as a reference), run on the same real
PostgreSQL rows that ``ingestion.render`` gets as COPY CSV: generated data in all
eleven tables plus values chosen to be hard for CSV and JSON.
"""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from pg8000.native import identifier

from common.source_tables import SOURCE_TABLES, TABLE_ORDER, ColumnType, SourceTable
from ingestion.extract import bind_window, build_copy
from ingestion.render import CsvRenderer, value_bytes
from ingestion.watermarks import Segment, SegmentKind
from local.generator import seed_database

HARD_TEXTS = [
    'quote " and "" doubled',
    "backslash \\ and \\\\ and \\N and \\.",
    "\\.",  # alone on a line, PostgreSQL's CSV end-of-data marker
    "newline \n carriage return \r\n tab \t form feed \f backspace \b",
    "controls \x01 \x02 \x1b \x1f and DEL \x7f",
    "non-ASCII é ü ñ ß 漢字 and emoji 🛍️👍🏽",
    "comma, semicolon; pipe | apostrophe '",
    "",
    " ",
    "null",
    '"',
    "\n",
]
HARD_PRICES = ["0.00", "-5.10", "99999999.99", "-99999999.99", "0.10", "12.5", "7"]
HARD_STAMPS = [
    datetime(2024, 1, 2, 3, 4, 5),  # .000
    datetime(2024, 1, 2, 3, 4, 5, 500000),  # .500
    datetime(2024, 1, 2, 3, 4, 5, 5000),  # .005
    datetime(2024, 12, 31, 23, 59, 59, 999000),
    datetime(999, 1, 1),  # a three-digit year
]


def _former_sql_value(kind: ColumnType, ref: str, nullable: bool) -> str:
    if kind is ColumnType.NUMERIC:
        expr = f"'\"' || {ref}::text || '\"'"
    elif kind is ColumnType.TIMESTAMP:
        expr = f"'\"' || to_char({ref}, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS') || '\"'"
    elif kind in (ColumnType.INTEGER, ColumnType.BOOLEAN):
        expr = f"{ref}::text"
    else:
        expr = f"to_json({ref})::text"
    return f"coalesce({expr}, 'null')" if nullable else expr


def _former_sql_lines(con, table: SourceTable) -> list[str]:
    """What the server rendered before (the oracle), in the extraction order."""
    parts = []
    for i, col in enumerate(table.columns):
        parts.append(f"'{'{' if i == 0 else ','}\"{col.name}\":'")
        parts.append(_former_sql_value(col.type, f"s.{identifier(col.name)}", col.nullable))
    doc = " || ".join(parts) + " || '}'"
    pk = identifier(table.primary_key)
    sql = f"SELECT {doc} FROM {identifier(table.name)} AS s ORDER BY s.last_updated, s.{pk}"
    return [row[0] + "\n" for row in con.run(sql)]


class _Rows:
    """A COPY sink keeping each CSV row (one write per row)."""

    def __init__(self) -> None:
        self.rows: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.rows.append(data)


def _rendered_lines(con, table: SourceTable, rows_per_block: int) -> list[str]:
    con.run("START TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    try:
        bind_window(con, Segment(None, "9999-01-01T00:00:00.000", SegmentKind.COPY))
        sink = _Rows()
        con.run(build_copy(table), stream=sink)
    finally:
        con.run("ROLLBACK")
    renderer, text = CsvRenderer(table), b""
    for i in range(0, len(sink.rows), rows_per_block):
        text += value_bytes(renderer.render(b"".join(sink.rows[i : i + rows_per_block])).lines).to_pybytes()
    return text.decode().splitlines(keepends=True)


def _add_hard_values(admin) -> None:
    stamps = iter(HARD_STAMPS * 20)
    for i, text in enumerate(HARD_TEXTS):
        when = next(stamps)
        admin.run(
            "INSERT INTO address (address_line_1, address_line_2, district, city, postal_code, country, phone,"
            " created_at, last_updated) VALUES (:t, :t, :n, :t, :t, :t, :t, :c, :u)",
            t=text, n=None if i % 2 else text, c=when, u=next(stamps),
        )  # fmt: skip
        admin.run(
            "INSERT INTO department (department_name, location, manager, created_at, last_updated)"
            " VALUES (:t, NULL, :t, :c, :c)",
            t=text, c=when,
        )  # fmt: skip
    ids = [r[0] for r in admin.run("SELECT sales_order_id FROM sales_order ORDER BY 1 LIMIT :n", n=len(HARD_PRICES))]
    for so_id, price in zip(ids, HARD_PRICES, strict=True):
        admin.run("UPDATE sales_order SET unit_price = CAST(:p AS numeric) WHERE sales_order_id = :i", p=price, i=so_id)
    ids = [r[0] for r in admin.run("SELECT payment_id FROM payment ORDER BY 1 LIMIT :n", n=len(HARD_PRICES))]
    for pay_id, price in zip(ids, HARD_PRICES, strict=True):
        admin.run(
            "UPDATE payment SET payment_amount = CAST(:p AS numeric), paid = NOT paid,"
            " counterparty_ac_number = -2147483648 WHERE payment_id = :i",
            p=price, i=pay_id,
        )  # fmt: skip


@pytest.fixture
def hard_source(source_db):
    seed_database(source_db.admin, seed=5, scale=0.05, bad_rows=True)
    _add_hard_values(source_db.admin)
    return source_db


@pytest.mark.parametrize("table_name", TABLE_ORDER)
def test_rendered_lines_are_the_former_sql_rendering_byte_for_byte(hard_source, table_name: str) -> None:
    table = SOURCE_TABLES[table_name]
    expected = _former_sql_lines(hard_source.admin, table)
    con = hard_source.connect()  # the pipeline's read-only role, as ingestion connects
    try:
        rendered = _rendered_lines(con, table, rows_per_block=7)  # many blocks, some mid-sequence
    finally:
        con.close()
    assert expected, "the table is empty: the test proves nothing"
    assert rendered == expected


def test_hard_values_survive_a_json_round_trip(hard_source) -> None:
    con = hard_source.connect()
    try:
        lines = _rendered_lines(con, SOURCE_TABLES["address"], rows_per_block=1000)
    finally:
        con.close()
    rows = [json.loads(line) for line in lines]
    assert {r["address_line_1"] for r in rows} >= set(HARD_TEXTS)
    assert {r["district"] for r in rows} >= {None, ""}, "NULL and the empty string stay apart"
    stamps = {r["created_at"] for r in rows}
    assert {"2024-01-02T03:04:05.000", "2024-01-02T03:04:05.500", "0999-01-01T00:00:00.000"} <= stamps


def test_the_database_default_datestyle_does_not_change_the_lines(hard_source) -> None:
    """The renderer reads ISO timestamps; extraction pins DateStyle whatever the default."""
    hard_source.admin.run(f"ALTER DATABASE {identifier(hard_source.name)} SET DateStyle = 'SQL, DMY'")
    table = SOURCE_TABLES["department"]
    con = hard_source.connect()  # a new session picks up the database default
    try:
        assert con.run("SHOW DateStyle") == [["SQL, DMY"]]
        rendered = _rendered_lines(con, table, rows_per_block=1000)
    finally:
        con.close()
    assert rendered == _former_sql_lines(hard_source.admin, table)
