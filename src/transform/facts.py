"""Fact rows: every observed version of a sales order, purchase order or payment (SPEC §2).

Facts keep history, so nothing here deduplicates: each validated source row of the
run becomes one fact row. ``created_at``/``last_updated`` are split into a date and
a time of day (microsecond resolution, so the source's milliseconds survive); the
text dates were parsed and money typed decimal128(10,2) by the reader, never via a
float.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from common.warehouse_tables import TABLES
from transform.dimensions import conform
from transform.rejects import Check


@dataclass(frozen=True)
class KnownIds:
    """A parent table's primary keys, sorted once per run, for the facts' foreign-key checks.

    Not ``pc.is_in``: it hashes its whole ``value_set`` on every call, so checking each
    block of a fact re-hashed the parent's whole state (a first load at 5M sales orders:
    7.5M transaction ids for each of ~200 blocks of payments), and the first run's cost
    grew with the square of its size (docs/benchmarks.md, "At 5M sales orders"). Sorted
    once, a block's ids are found by binary search: O(block rows · log ids).
    """

    sorted_ids: np.ndarray

    @classmethod
    def of(cls, ids: pa.Array | pa.ChunkedArray) -> KnownIds:
        """From a snapshot's primary keys (already in key order; sorted here if not)."""
        values = pc.drop_null(ids).to_numpy()
        if len(values) > 1 and not bool(np.all(values[:-1] <= values[1:])):
            values = np.sort(values)
        return cls(values)

    def contains(self, ids: pa.Array | pa.ChunkedArray) -> pa.Array:
        """True where an id is one of these keys; false where it is not, or is null (as ``pc.is_in``)."""
        values = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
        if not len(self.sorted_ids):
            return pa.array(np.zeros(len(values), dtype=bool))
        wanted = pc.fill_null(values, self.sorted_ids[0].item()).to_numpy()
        at = np.minimum(np.searchsorted(self.sorted_ids, wanted), len(self.sorted_ids) - 1)
        return pc.and_(pa.array(self.sorted_ids[at] == wanted), pc.is_valid(values))


def foreign_key_checks(rows: pa.Table, source_table: str, known_ids: Mapping[str, KnownIds]) -> list[Check]:
    """One check per foreign key: true where the id matches no row of the parent's current state.

    Parameters
    ----------
    rows : pyarrow.Table
        Validated rows of ``source_table``.
    source_table : str
        ``sales_order``, ``purchase_order`` or ``payment``.
    known_ids : mapping
        Parent source table -> the ids in its snapshot after this run's changes.
    """
    checks: list[Check] = []
    for column, parent in FACT_FEEDS[source_table].foreign_keys:
        missing = pc.invert(known_ids[parent].contains(rows.column(column)))
        checks.append((missing, f"foreign key matches nothing: {column} -> {parent}"))
    return checks


def _split_timestamps(rows: pa.Table) -> dict[str, pa.ChunkedArray]:
    created, updated = rows.column("created_at"), rows.column("last_updated")
    return {
        "created_date": pc.cast(created, pa.date32()),
        "created_time": pc.cast(created, pa.time64("us")),
        "last_updated_date": pc.cast(updated, pa.date32()),
        "last_updated_time": pc.cast(updated, pa.time64("us")),
    }


def build_fact_sales_order(rows: pa.Table) -> pa.Table:
    """fact_sales_order: one row per sales_order version; ``sales_staff_id`` is ``staff_id``."""
    cols = {c: rows.column(c) for c in rows.column_names}
    return conform({**cols, **_split_timestamps(rows), "sales_staff_id": rows.column("staff_id")}, "fact_sales_order")


def build_fact_purchase_order(rows: pa.Table) -> pa.Table:
    """fact_purchase_order: one row per purchase_order version."""
    cols = {c: rows.column(c) for c in rows.column_names}
    return conform({**cols, **_split_timestamps(rows)}, "fact_purchase_order")


def build_fact_payment(rows: pa.Table) -> pa.Table:
    """fact_payment: one row per payment version; the two account numbers are dropped."""
    cols = {c: rows.column(c) for c in rows.column_names}
    return conform({**cols, **_split_timestamps(rows)}, "fact_payment")


@dataclass(frozen=True)
class FactFeed:
    """A fact and its source table: the builder, and the foreign keys its rows must match.

    ``foreign_keys`` are (source column, the snapshot table whose ids it must match).
    """

    fact: str
    source: str
    build: Callable[[pa.Table], pa.Table]
    foreign_keys: tuple[tuple[str, str], ...]


# The one table of which source table becomes which fact (keyed by source table).
FACT_FEEDS: dict[str, FactFeed] = {
    f.source: f
    for f in (
        FactFeed(
            "fact_sales_order",
            "sales_order",
            build_fact_sales_order,
            (
                ("staff_id", "staff"),
                ("counterparty_id", "counterparty"),
                ("currency_id", "currency"),
                ("design_id", "design"),
                ("agreed_delivery_location_id", "address"),
            ),
        ),
        FactFeed(
            "fact_purchase_order",
            "purchase_order",
            build_fact_purchase_order,
            (
                ("staff_id", "staff"),
                ("counterparty_id", "counterparty"),
                ("currency_id", "currency"),
                ("agreed_delivery_location_id", "address"),
            ),
        ),
        FactFeed(
            "fact_payment",
            "payment",
            build_fact_payment,
            (
                ("transaction_id", "transaction"),
                ("counterparty_id", "counterparty"),
                ("currency_id", "currency"),
                ("payment_type_id", "payment_type"),
            ),
        ),
    )
}


def referenced_dates(fact: pa.Table, fact_name: str) -> pa.Array:
    """The distinct dates ``fact`` references (what dim_date must cover)."""
    parts = [pc.unique(fact.column(c).combine_chunks()) for c in TABLES[fact_name].date_columns]
    if not parts:
        return pa.array([], pa.date32())
    return pc.unique(pa.concat_arrays(parts))
