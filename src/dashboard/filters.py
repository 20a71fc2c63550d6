"""The filters an analyst sets on a page, and the SQL conditions they become.

Every condition binds its values as parameters; the column names come from the
callers' constants, never from the user. Dates filter whole months (the summaries
are monthly): ``start``/``end`` are first days of months, both included.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
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
    def by_department_only(self) -> bool:
        """Whether the department summaries answer: a department filter, no other member
        filter, all months (they are kept per department for all time, and per month in total)."""
        return bool(self.departments) and not (self.counterparties or self.designs or self.staff or self.has_range)

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


def running_range(f: Filters, column: str, into: Conditions, prefix: str = "") -> str:
    """SQL for a summary row's total over the date range, from its running totals ``column``.

    The running totals are listed per month in ``running_months``
    (sql/warehouse/010_analytics_fold_cost.sql): the range's total is the running total at its
    last month minus the one before its first (none before an open start). Binds both days
    into ``into`` (named apart by ``prefix``); ``column`` is the caller's constant.
    """
    before, last = f"{prefix}before_range", f"{prefix}range_end"
    into.params[before] = f.start - timedelta(days=1) if f.start else None
    into.params[last] = f.end or date.max
    return (
        f"(analytics.running_at(running_months, {column}, CAST(:{last} AS date))"
        f" - analytics.running_at(running_months, {column}, CAST(:{before} AS date)))"
    )


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
        # The department's staff as one array, so the rows are found through the staff index:
        # an IN (subquery) here was planned as a hash semi join over every row of the table.
        c.add(  # the column is the caller's constant; the departments are bound
            f"{columns['staff']} = ANY(ARRAY(SELECT staff_id FROM dim_staff"  # noqa: S608  # nosec B608
            f" WHERE department_name = ANY(CAST(:{prefix}departments AS text[]))))",
            **{f"{prefix}departments": list(f.departments)},
        )
    return c
