"""How the app sets up each warehouse session (the app's pool and the benchmark use it alike)."""

from __future__ import annotations

import pg8000.native

# A page's groupings hold a few thousand rows; a date range's, up to a million: in memory, not spilled.
WORK_MEM = "64MB"


def prepare_session(con: pg8000.native.Connection) -> pg8000.native.Connection:
    """READ ONLY for every transaction (the role cannot write either), and room to group in memory."""
    con.run("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
    con.run("SELECT set_config('work_mem', :v, false)", v=WORK_MEM)
    return con
