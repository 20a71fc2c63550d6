"""What the warehouse's schema offers the app right now (columns that later migrations add)."""

from __future__ import annotations

import pg8000.native

FACT_TABLES = ("fact_sales_order", "fact_purchase_order", "fact_payment")


def has_column(con: pg8000.native.Connection, table: str, column: str) -> bool:
    rows = con.run(
        "SELECT 1 FROM information_schema.columns"
        " WHERE table_schema = 'public' AND table_name = :t AND column_name = :c",
        t=table,
        c=column,
    )
    return bool(rows)


def live_condition(con: pg8000.native.Connection, fact: str, alias: str = "f") -> str:
    """``NOT f.is_deleted`` once the fact has issue 14's column, else ``true`` (a deletion counts for nothing)."""
    if fact not in FACT_TABLES:
        raise ValueError(f"not a fact table: {fact!r}")
    return f"NOT {alias}.is_deleted" if has_column(con, fact, "is_deleted") else "true"
