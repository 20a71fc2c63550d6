"""A sales order's history: every stored version, oldest first, what each one changed,
which is current, and deletion versions once the warehouse has ``is_deleted`` (issue 14)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

import pg8000.native

from dashboard.schema import has_column

# Shown and compared per version, in this order (names joined from the dimensions).
COLUMNS = (
    "units_sold",
    "unit_price",
    "currency",
    "design",
    "counterparty",
    "sales_staff",
    "agreed_delivery_location",
    "agreed_payment_date",
    "agreed_delivery_date",
    "created",
)

# Current by SPEC §2 from the order's own versions (greatest last_updated, ties by the later
# load), not from analytics.sales_order_superseded, which trails a big run's commit.
HISTORY_SQL = """
SELECT f.sales_record_id, f.last_updated_date, f.last_updated_time, {deleted} AS is_deleted,
       f.units_sold, f.unit_price, c.currency_code,
       d.design_name || ' #' || f.design_id,
       p.counterparty_legal_name || ' #' || f.counterparty_id,
       s.first_name || ' ' || s.last_name || ' #' || f.sales_staff_id,
       l.city || ', ' || l.country || ' #' || f.agreed_delivery_location_id,
       f.agreed_payment_date, f.agreed_delivery_date, f.created_date + f.created_time,
       f.sales_record_id = first_value(f.sales_record_id) OVER (
           ORDER BY f.last_updated_date DESC, f.last_updated_time DESC, f.sales_record_id DESC
       ) AS is_current
FROM fact_sales_order f
JOIN dim_currency c USING (currency_id)
JOIN dim_design d USING (design_id)
JOIN dim_counterparty p USING (counterparty_id)
JOIN dim_staff s ON s.staff_id = f.sales_staff_id
JOIN dim_location l ON l.location_id = f.agreed_delivery_location_id
WHERE f.sales_order_id = :order_id
ORDER BY f.last_updated_date, f.last_updated_time, f.sales_record_id
"""


@dataclass(frozen=True)
class Version:
    record_id: int
    last_updated: datetime
    values: dict[str, Any]
    is_current: bool
    is_deleted: bool
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # column -> (before, after)

    def describe(self) -> str:
        if self.is_deleted:
            return "deleted"
        if not self.changes:
            return "first version"
        return "; ".join(f"{k}: {_text(a)} → {_text(b)}" for k, (a, b) in self.changes.items())


@dataclass(frozen=True)
class OrderHistory:
    sales_order_id: int
    versions: list[Version]
    deletion_tracked: bool  # the warehouse has is_deleted (issue 14); before that no deletion can show

    @property
    def current(self) -> Version | None:
        return next((v for v in self.versions if v.is_current), None)

    @property
    def deleted(self) -> bool:
        return bool(self.current and self.current.is_deleted)


def order_history(con: pg8000.native.Connection, sales_order_id: int) -> OrderHistory:
    """Every version of one sales order (empty when the warehouse has none)."""
    tracked = has_column(con, "fact_sales_order", "is_deleted")
    rows = con.run(HISTORY_SQL.format(deleted="f.is_deleted" if tracked else "false"), order_id=sales_order_id)
    versions: list[Version] = []
    previous: dict[str, Any] | None = None
    for r in rows:
        values = dict(zip(COLUMNS, r[4:14], strict=True))
        changes = {k: (previous[k], v) for k, v in values.items() if previous[k] != v} if previous is not None else {}
        versions.append(
            Version(
                record_id=r[0],
                last_updated=datetime.combine(r[1], r[2]),
                values=values,
                is_current=r[14],
                is_deleted=bool(r[3]),
                changes=changes,
            )
        )
        previous = values
    return OrderHistory(sales_order_id, versions, tracked)


def _text(value: Any) -> str:
    if isinstance(value, datetime | date | time):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    return str(value)
