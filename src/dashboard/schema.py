"""What the warehouse's schema offers the app right now (columns that later migrations add)."""

from __future__ import annotations

import pg8000.native


def has_column(con: pg8000.native.Connection, table: str, column: str) -> bool:
    rows = con.run(
        "SELECT 1 FROM information_schema.columns"
        " WHERE table_schema = 'public' AND table_name = :t AND column_name = :c",
        t=table,
        c=column,
    )
    return bool(rows)
