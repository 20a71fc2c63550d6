"""What the filters offer: currencies, counterparties, designs, staff, departments, months."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pg8000.native


@dataclass(frozen=True)
class FilterOptions:
    currencies: list[tuple[int, str]]
    counterparties: list[tuple[int, str]]
    designs: list[tuple[int, str]]
    staff: list[tuple[int, str]]
    departments: list[str]
    months: list[date]  # every month with sales, purchases or payments


def filter_options(con: pg8000.native.Connection) -> FilterOptions:
    def pairs(sql: str) -> list[tuple[int, str]]:
        return [(int(i), str(n)) for i, n in con.run(sql)]

    months = con.run(
        "SELECT DISTINCT period FROM ("
        " SELECT period FROM analytics.sales_summary WHERE breakdown = 'total'"
        " UNION ALL SELECT period FROM analytics.purchase_summary WHERE breakdown = 'total'"
        " UNION ALL SELECT period FROM analytics.payment_summary WHERE breakdown = 'type') p"
        " WHERE period <> '-infinity' ORDER BY 1"
    )
    return FilterOptions(
        currencies=pairs("SELECT currency_id, currency_code FROM dim_currency ORDER BY currency_code"),
        counterparties=pairs("SELECT counterparty_id, counterparty_legal_name FROM dim_counterparty ORDER BY 2, 1"),
        designs=pairs("SELECT design_id, design_name || ' #' || design_id FROM dim_design ORDER BY design_name, 1"),
        staff=pairs("SELECT staff_id, first_name || ' ' || last_name FROM dim_staff ORDER BY last_name, first_name, 1"),
        departments=[r[0] for r in con.run("SELECT DISTINCT department_name FROM dim_staff ORDER BY 1")],
        months=[r[0] for r in months],
    )
