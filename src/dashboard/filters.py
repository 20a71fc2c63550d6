"""The filters an analyst sets on a page, and the SQL conditions they become.

Every condition binds its values as parameters; the column names come from the
callers' constants, never from the user. Dates filter whole months (the summaries
are monthly): ``start``/``end`` are first days of months, both included.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any


@dataclass(frozen=True)
class Filters:
    """What a page shows. Empty tuples mean "all"; None months mean "from the first" / "to the last"."""

    start: date | None = None
    end: date | None = None
    currencies: tuple[int, ...] = ()
    counterparties: tuple[int, ...] = ()
    designs: tuple[int, ...] = ()
    staff: tuple[int, ...] = ()
    departments: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if value is not None and value.day != 1:
                object.__setattr__(self, name, value.replace(day=1))
        if self.start and self.end and self.start > self.end:
            raise ValueError(f"the date range starts ({self.start}) after it ends ({self.end})")

    @property
    def needs_facts(self) -> bool:
        """Whether the summaries cannot answer: they are kept per currency and month (member
        rows as running totals per month), not per member of another dimension."""
        return bool(self.counterparties or self.designs or self.staff or self.departments)

    @property
    def has_range(self) -> bool:
        return self.start is not None or self.end is not None


@dataclass
class Conditions:
    """SQL conditions joined with AND, and their bound parameters."""

    clauses: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    def add(self, clause: str, **params: Any) -> None:
        self.clauses.append(clause)
        self.params.update(params)

    @property
    def sql(self) -> str:
        return " AND ".join(self.clauses) if self.clauses else "true"


def month_conditions(f: Filters, month_sql: str, into: Conditions | None = None, prefix: str = "") -> Conditions:
    """The date range on ``month_sql`` (an expression giving the first day of a month).

    ``prefix`` names the parameters apart when one query filters two facts.
    """
    c = into or Conditions()
    if f.start is not None:
        c.add(f"{month_sql} >= :{prefix}start", **{f"{prefix}start": f.start})
    if f.end is not None:
        c.add(f"{month_sql} <= :{prefix}end", **{f"{prefix}end": f.end})
    return c


def month_number(d: date) -> int:
    """The summaries' month number (sql/warehouse/007_analytics_month_ranges.sql): year * 12 + month - 1."""
    return d.year * 12 + d.month - 1


# Month numbers beyond any date the warehouse holds (SPEC §1's dates are years 1-9999).
_FIRST_MONTH, _LAST_MONTH = month_number(date.min), month_number(date.max)


def running_range(f: Filters, column: str, into: Conditions, prefix: str = "") -> str:
    """SQL for a summary row's total over the date range, from its running totals ``column``.

    Binds the range's month numbers into ``into`` (named apart by ``prefix``); ``column``
    is the caller's constant.
    """
    lo, hi = f"{prefix}first_month", f"{prefix}last_month"
    into.params[lo] = month_number(f.start) if f.start else _FIRST_MONTH
    into.params[hi] = month_number(f.end) if f.end else _LAST_MONTH
    return f"(analytics.running_at({column}, :{hi}) - analytics.running_at({column}, :{lo} - 1))"


def member_conditions(
    f: Filters, columns: dict[str, str], into: Conditions | None = None, prefix: str = ""
) -> Conditions:
    """The currency and member filters on the columns a fact has.

    ``columns`` maps a filter (``currency``, ``counterparty``, ``design``, ``staff``)
    to the fact's column; filters the fact has no column for are not applied (the
    page does not offer them).
    """
    c = into or Conditions()
    wanted = {
        "currency": ("currencies", f.currencies),
        "counterparty": ("counterparties", f.counterparties),
        "design": ("designs", f.designs),
        "staff": ("staff", f.staff),
    }
    for key, (param, values) in wanted.items():
        if values and key in columns:
            c.add(f"{columns[key]} = ANY(CAST(:{prefix}{param} AS int[]))", **{f"{prefix}{param}": list(values)})
    if f.departments and "staff" in columns:
        c.add(  # the column is the caller's constant; the departments are bound
            f"{columns['staff']} IN (SELECT staff_id FROM dim_staff"  # noqa: S608  # nosec B608
            f" WHERE department_name = ANY(CAST(:{prefix}departments AS text[])))",
            **{f"{prefix}departments": list(f.departments)},
        )
    return c
