"""What the warehouse's schema offers the app right now (columns that later migrations add)."""

from __future__ import annotations

import pg8000.native

FACT_TABLES = ("fact_sales_order", "fact_purchase_order", "fact_payment")
RECORD_IDS = {
    "fact_sales_order": "sales_record_id",
    "fact_purchase_order": "purchase_record_id",
    "fact_payment": "payment_record_id",
}


# The rows of a fact the summaries have folded (load.summaries).
FOLDED = "{alias}.{record_id} <= (SELECT last_record_id FROM analytics.summary_state WHERE fact_table = '{fact}')"


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


def shown_condition(con: pg8000.native.Connection, fact: str, alias: str = "f") -> str:
    """The fact rows a page reads: live ones the summaries have folded.

    The load folds a big run after its commit (load.summaries), so for a while the facts
    hold rows the summaries (and ``<fact>_superseded``) do not: a page read from the facts
    stops where the summaries stop, and shows the same load run as one read from them.
    """
    live = live_condition(con, fact, alias)  # raises for anything but a fact table
    return f"{live} AND " + FOLDED.format(alias=alias, record_id=RECORD_IDS[fact], fact=fact)
