"""Silent changes for a generated totesys: hard deletes and in-place fixes (issue 14).

What the incremental path cannot see, because no ``last_updated`` moves:

* a hard-deleted sales order or purchase order: its transaction stays and loses the
  reference through the foreign key's ``ON DELETE SET NULL``, its ``last_updated`` untouched;
* a hard-deleted payment (nothing references a payment);
* a value fixed in place by hand (``FIXES``): a fact's money or quantity, an address's
  phone (a dimension member, and through it a counterparty's legal address).

``apply_silent_changes`` picks its rows with a PCG64 stream of its own seed (so the same
seed on the same database picks the same rows) among rows the latest batch did not touch
(those are still on their way through the incremental path), applies everything in one
transaction and returns what it did: the ids the comparison must report, per table. The
simulator's ``simulate_silent_changes`` (one of each for ``make run``) is one such batch;
tests and benchmarks ask for more.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np
import pg8000.native
from pg8000.native import identifier

from common.source_tables import SOURCE_TABLES

PRICE_FIX = Decimal("0.01")
# What a support engineer fixes in place, per table: an allow-listed SQL assignment.
FIXES = {
    "sales_order": f"unit_price = unit_price + {PRICE_FIX}",
    "purchase_order": "item_quantity = item_quantity + 1",
    "payment": "payment_amount = payment_amount + 0.01",
    "address": "phone = phone || ' ext. 1'",
}
# Tables whose rows are hard-deleted, and the transaction column the delete sets NULL.
DELETES = {"sales_order": "sales_order_id", "purchase_order": "purchase_order_id", "payment": None}


class SilentChangeError(ValueError):
    """The database cannot give what was asked (too few rows, or a table without that kind of change)."""


@dataclass(frozen=True)
class SilentBatch:
    """What ``apply_silent_changes`` did, as the comparison must find it."""

    deleted: dict[str, tuple[int, ...]] = field(default_factory=dict)
    fixed: dict[str, tuple[int, ...]] = field(default_factory=dict)
    nulled_transactions: tuple[int, ...] = ()  # lost their order: ON DELETE SET NULL

    def changed_in_place(self) -> dict[str, tuple[int, ...]]:
        """Per table, the ids changed under the same ``last_updated``: the fixes and the nulled transactions."""
        changed = {t: ids for t, ids in self.fixed.items() if ids}
        if self.nulled_transactions:
            changed["transaction"] = self.nulled_transactions
        return changed


def _untouched_ids(con: pg8000.native.Connection, table: str) -> list[int]:
    pk, t = identifier(SOURCE_TABLES[table].primary_key), identifier(table)
    rows = con.run(
        f"SELECT {pk} FROM {t} WHERE last_updated < (SELECT max(last_updated) FROM {t}) ORDER BY {pk}"  # noqa: S608  # nosec B608
    )
    return [r[0] for r in rows]


def _pick(
    rng: np.random.Generator, table: str, pool: list[int], deletes: int, fixes: int
) -> tuple[list[int], list[int]]:
    if deletes + fixes > len(pool):
        raise SilentChangeError(f"{table}: {deletes + fixes} rows asked for, {len(pool)} untouched by the latest batch")
    chosen = [int(pool[i]) for i in rng.choice(len(pool), deletes + fixes, replace=False)]
    return sorted(chosen[:deletes]), sorted(chosen[deletes:])


def apply_silent_changes(
    con: pg8000.native.Connection, *, seed: int, deletes: dict[str, int], fixes: dict[str, int]
) -> SilentBatch:
    """Hard-delete ``deletes[table]`` rows and fix ``fixes[table]`` rows in place, in one transaction.

    No row is both deleted and fixed. Raises ``SilentChangeError`` (nothing changed) for a
    table outside ``DELETES``/``FIXES`` or with too few rows untouched by the latest batch.
    """
    for table, n in deletes.items():
        if table not in DELETES and n:
            raise SilentChangeError(f"{table}: the generator does not delete its rows (only {sorted(DELETES)})")
    for table, n in fixes.items():
        if table not in FIXES and n:
            raise SilentChangeError(f"{table}: the generator does not fix its rows (only {sorted(FIXES)})")
    rng = np.random.Generator(np.random.PCG64(seed))
    chosen = {}
    for table in sorted({*deletes, *fixes}):
        d, f = deletes.get(table, 0), fixes.get(table, 0)
        if d or f:
            chosen[table] = _pick(rng, table, _untouched_ids(con, table), d, f)
    con.run("START TRANSACTION")
    try:
        batch = _apply(con, chosen)
        con.run("COMMIT")
    except BaseException:
        with contextlib.suppress(pg8000.native.InterfaceError, pg8000.native.DatabaseError):
            con.run("ROLLBACK")
        raise
    return batch


def _apply(con: pg8000.native.Connection, chosen: dict[str, tuple[list[int], list[int]]]) -> SilentBatch:
    deleted, fixed, nulled = {}, {}, set()
    for table, (gone, fix) in chosen.items():
        pk, t = identifier(SOURCE_TABLES[table].primary_key), identifier(table)
        if gone:
            reference = DELETES[table]
            if reference is not None:
                nulled.update(
                    r[0]
                    for r in con.run(
                        f"SELECT transaction_id FROM transaction WHERE {identifier(reference)} = ANY(:ids)",  # noqa: S608  # nosec B608
                        ids=gone,
                    )
                )
            con.run(f"DELETE FROM {t} WHERE {pk} = ANY(:ids)", ids=gone)  # noqa: S608  # nosec B608
            deleted[table] = tuple(gone)
        if fix:
            con.run(f"UPDATE {t} SET {FIXES[table]} WHERE {pk} = ANY(:ids)", ids=fix)  # noqa: S608  # nosec B608
            fixed[table] = tuple(fix)
    return SilentBatch(deleted, fixed, tuple(sorted(nulled)))
