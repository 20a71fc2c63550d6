"""The change simulator: one batch of realistic totesys changes, as the application makes them.

``simulate_changes`` runs in ONE database transaction stamped with one instant ``now``:
every inserted row gets ``created_at = last_updated = now`` and every updated row
``last_updated = now`` (so a batch is also "many rows sharing one last_updated"). It
updates before it inserts, so each update targets a row that existed before the batch.

A batch holds:

* updates: ``units_sold`` of a few sales orders; a staff member moves department; an
  address that is some counterparty's legal address is edited (so dim_counterparty must
  change too); a department is renamed (so dim_staff must change for its staff); an
  unpaid payment is marked paid (``departments=False`` leaves out the move and the rename:
  a batch that changes no department, as most of a real day's batches are);
* inserts, parents before children: a new address, a counterparty whose legal address it
  is, a new staff member, sales orders (one using each of those) with their SALE
  transactions, purchase orders with PURCHASE transactions, payments for most of the new
  transactions and for a few older transactions that had none.

The returned ``ChangeReport`` says exactly what changed, for tests, ``totes simulate``
and a reconcile step that checks the warehouse afterwards.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pg8000.native
from pg8000.native import identifier

from common.source_tables import ENUM_VALUES, SOURCE_TABLES, TABLE_ORDER
from local import generator_values as values
from local.generator_changes import PRICE_FIX, SilentChangeError, apply_silent_changes

_PAYMENT_TYPE_ID = {name: i + 1 for i, name in enumerate(ENUM_VALUES["payment_type_name"])}
_PAYMENT_SHARE = 0.7  # new transactions paid for in the same batch; the rest stay open


@dataclass(frozen=True)
class DepartmentRename:
    """A department renamed in this batch (every staff member in it changes in dim_staff)."""

    department_id: int
    old_name: str
    new_name: str


@dataclass(frozen=True)
class StaffMove:
    """A staff member who moved to another department."""

    staff_id: int
    old_department_id: int
    new_department_id: int


@dataclass(frozen=True)
class AddressEdit:
    """An address edited in this batch; it is the legal address of ``counterparty_ids``."""

    address_id: int
    counterparty_ids: tuple[int, ...]
    old_address_line_1: str
    new_address_line_1: str
    old_phone: str
    new_phone: str


@dataclass(frozen=True)
class UnitsSoldChange:
    """A sales order whose units_sold changed (a new fact version in the warehouse)."""

    sales_order_id: int
    old_units_sold: int
    new_units_sold: int


@dataclass(frozen=True)
class ChangeReport:
    """What one ``simulate_changes`` batch did.

    Attributes
    ----------
    seed, now
        The batch's seed and its one timestamp (naive, UTC by convention, milliseconds).
    inserted, updated
        Ids per table (every table of ``TABLE_ORDER`` is a key; a row is in one of the two).
    renamed_department, moved_staff, edited_address, units_sold_changes, paid_payment_id
        The updates in detail (``paid_payment_id`` is None when no payment was unpaid;
        ``renamed_department`` and ``moved_staff`` are None in a batch made with
        ``departments=False``).
    """

    seed: int
    now: datetime
    inserted: dict[str, tuple[int, ...]]
    updated: dict[str, tuple[int, ...]]
    renamed_department: DepartmentRename | None
    moved_staff: StaffMove | None
    edited_address: AddressEdit
    units_sold_changes: tuple[UnitsSoldChange, ...]
    paid_payment_id: int | None = None

    def changed_ids(self, table: str) -> set[int]:
        """Ids of ``table`` inserted or updated by this batch (all have last_updated == now)."""
        return set(self.inserted[table]) | set(self.updated[table])

    @property
    def rows_changed(self) -> int:
        """Total rows inserted or updated, over all tables."""
        return sum(len(self.changed_ids(t)) for t in TABLE_ORDER)

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (``now`` as ISO 8601 with milliseconds)."""
        doc = asdict(self)
        doc["now"] = _iso(self.now)
        return doc

    def describe(self) -> str:
        """A few lines for humans (``totes simulate``, ``make run``)."""

        def counts(ids: dict[str, tuple[int, ...]]) -> str:
            return ", ".join(f"{t} {len(ids[t])}" for t in TABLE_ORDER if ids[t]) or "nothing"

        rename, move, edit = self.renamed_department, self.moved_staff, self.edited_address
        lines = [
            f"Simulated one batch of totesys changes at {_iso(self.now)} (seed {self.seed}), one transaction:",
            f"  inserted: {counts(self.inserted)}",
            f"  updated:  {counts(self.updated)}",
            f"  department {rename.department_id} renamed {rename.old_name!r} -> {rename.new_name!r}"
            if rename
            else "  no department renamed",
            f"  staff {move.staff_id} moved from department {move.old_department_id} to {move.new_department_id}"
            if move
            else "  no staff member moved",
            f"  address {edit.address_id} edited (legal address of counterparty"
            f" {', '.join(map(str, edit.counterparty_ids))}):"
            f" {edit.old_address_line_1!r} -> {edit.new_address_line_1!r}",
            "  units_sold: "
            + ", ".join(f"#{c.sales_order_id} {c.old_units_sold}->{c.new_units_sold}" for c in self.units_sold_changes),
        ]
        if self.paid_payment_id is not None:
            lines.append(f"  payment {self.paid_payment_id} marked paid")
        return "\n".join(lines)


class SimulationError(RuntimeError):
    """totesys has too little data to simulate changes on (seed it first)."""


def _iso(ts: datetime) -> str:
    return ts.isoformat(timespec="milliseconds")


def _to_millis(ts: datetime) -> datetime:
    """Naive UTC at millisecond precision: exactly what timestamp(3) stores, so the report
    and the database agree (PostgreSQL would round microseconds, we truncate first)."""
    if ts.tzinfo is not None:
        ts = ts.astimezone(UTC).replace(tzinfo=None)
    return ts.replace(microsecond=ts.microsecond // 1000 * 1000)


def _default_now(con: pg8000.native.Connection) -> datetime:
    """The current UTC time, but always after every existing last_updated, so a batch's
    changes are visibly newer than anything before it even if clocks or batches collide."""
    now = _to_millis(datetime.now(UTC))
    newest = max(
        (
            # identifier() of an allow-listed table name; no value is interpolated.
            con.run(f"SELECT max(last_updated) FROM {identifier(t)}")[0][0]  # noqa: S608  # nosec B608
            for t in TABLE_ORDER
        ),
        key=lambda v: v or datetime.min,
    )
    if newest is not None and newest >= now:
        now = newest + timedelta(milliseconds=1)
    return now


def _column(con: pg8000.native.Connection, sql: str, **params: Any) -> list[Any]:
    return [row[0] for row in con.run(sql, **params)]


def _choice(rng: np.random.Generator, items: list[Any], k: int = 1) -> list[Any]:
    if not items:
        return []
    picked = rng.choice(len(items), size=min(k, len(items)), replace=False)
    return [items[int(i)] for i in sorted(picked)]


class _Batch:
    """The state of one batch while it runs: the connection, the draws and what changed."""

    def __init__(self, con: pg8000.native.Connection, rng: np.random.Generator, now: datetime) -> None:
        self.con, self.rng, self.now = con, rng, now
        self.inserted: dict[str, list[int]] = {t: [] for t in TABLE_ORDER}
        self.updated: dict[str, list[int]] = {t: [] for t in TABLE_ORDER}

    def insert(self, table: str, **columns: Any) -> int:
        """INSERT one row stamped ``now``; return its new serial id."""
        names = [*columns, "created_at", "last_updated"]
        allowed = SOURCE_TABLES[table].column_names
        if not set(names) <= set(allowed):
            raise KeyError(f"{table} has no column(s) {sorted(set(names) - set(allowed))}")
        # Identifiers from the allow-list via identifier(); every value is a bound :parameter.
        sql = (
            f"INSERT INTO {identifier(table)} ({', '.join(identifier(n) for n in names)})"  # noqa: S608  # nosec B608
            f" VALUES ({', '.join(':' + n for n in names)}) RETURNING {identifier(table + '_id')}"
        )
        new_id = int(self.con.run(sql, **columns, created_at=self.now, last_updated=self.now)[0][0])
        self.inserted[table].append(new_id)
        return new_id

    def text_date(self, min_days: int, max_days: int) -> str:
        days = int(self.rng.integers(min_days, max_days + 1))
        return (self.now.date() + timedelta(days=days)).isoformat()

    # --- updates (of rows that existed before the batch) ---

    def change_units_sold(self) -> tuple[UnitsSoldChange, ...]:
        top = self.con.run("SELECT max(sales_order_id) FROM sales_order")[0][0]
        k = int(self.rng.integers(5, 11))
        wanted = sorted({int(i) for i in self.rng.integers(1, top + 1, k)})
        changes = []
        for so_id, old in self.con.run(
            "SELECT sales_order_id, units_sold FROM sales_order WHERE sales_order_id = ANY(:ids) ORDER BY 1", ids=wanted
        ):
            # A customer revises the order by 5-25 %, up or down (never to zero or no change).
            delta = max(1, round(old * float(self.rng.uniform(0.05, 0.25))))
            new = old - delta if old - delta >= 1 and self.rng.random() < 0.5 else old + delta
            self.con.run(
                "UPDATE sales_order SET units_sold = :u, last_updated = :now WHERE sales_order_id = :id",
                u=new,
                now=self.now,
                id=so_id,
            )
            self.updated["sales_order"].append(so_id)
            changes.append(UnitsSoldChange(so_id, old, new))
        return tuple(changes)

    def move_staff(self) -> StaffMove:
        departments = _column(self.con, "SELECT department_id FROM department ORDER BY 1")
        staff_id, old = _choice(self.rng, self.con.run("SELECT staff_id, department_id FROM staff ORDER BY 1"))[0]
        new = _choice(self.rng, [d for d in departments if d != old])[0]
        self.con.run(
            "UPDATE staff SET department_id = :d, last_updated = :now WHERE staff_id = :id",
            d=new,
            now=self.now,
            id=staff_id,
        )
        self.updated["staff"].append(staff_id)
        return StaffMove(staff_id, old, new)

    def edit_legal_address(self) -> AddressEdit:
        legal = _column(self.con, "SELECT DISTINCT legal_address_id FROM counterparty ORDER BY 1")
        address_id = _choice(self.rng, legal)[0]
        old_line, old_phone = self.con.run(
            "SELECT address_line_1, phone FROM address WHERE address_id = :id", id=address_id
        )[0]
        fresh = values.address_values(self.rng)
        new_line = fresh["address_line_1"] if fresh["address_line_1"] != old_line else f"{old_line} (rear)"
        self.con.run(
            "UPDATE address SET address_line_1 = :l, phone = :p, last_updated = :now WHERE address_id = :id",
            l=new_line,
            p=fresh["phone"],
            now=self.now,
            id=address_id,
        )
        self.updated["address"].append(address_id)
        owners = _column(
            self.con, "SELECT counterparty_id FROM counterparty WHERE legal_address_id = :a ORDER BY 1", a=address_id
        )
        return AddressEdit(address_id, tuple(owners), old_line, str(new_line), old_phone, str(fresh["phone"]))

    def rename_department(self) -> DepartmentRename:
        rows = self.con.run("SELECT department_id, department_name FROM department ORDER BY 1")
        department_id, old = _choice(self.rng, rows)[0]
        taken = {name for _, name in rows}
        unused = [n for n in values.DEPARTMENT_RENAMES if n not in taken]
        new = _choice(self.rng, unused)[0] if unused else f"{old} (restructured)"
        self.con.run(
            "UPDATE department SET department_name = :n, last_updated = :now WHERE department_id = :id",
            n=new,
            now=self.now,
            id=department_id,
        )
        self.updated["department"].append(department_id)
        return DepartmentRename(department_id, old, new)

    def updates(self, *, departments: bool) -> dict[str, Any]:
        """The batch's updates as ``ChangeReport`` fields, made in this order (the seed's choices follow it)."""
        return {
            "units_sold_changes": self.change_units_sold(),
            "moved_staff": self.move_staff() if departments else None,
            "edited_address": self.edit_legal_address(),
            "renamed_department": self.rename_department() if departments else None,
            "paid_payment_id": self.mark_payment_paid(),
        }

    def mark_payment_paid(self) -> int | None:
        unpaid = _column(self.con, "SELECT payment_id FROM payment WHERE NOT paid ORDER BY payment_id LIMIT 200")
        if not unpaid:
            return None
        payment_id = int(_choice(self.rng, unpaid)[0])
        self.con.run(
            "UPDATE payment SET paid = true, last_updated = :now WHERE payment_id = :id", now=self.now, id=payment_id
        )
        self.updated["payment"].append(payment_id)
        return payment_id

    # --- inserts ---

    def pay(
        self, transaction_id: int, counterparty_id: int, cents: int, currency_id: int, kind: str, paid: bool
    ) -> None:
        self.insert(
            "payment",
            transaction_id=transaction_id,
            counterparty_id=counterparty_id,
            payment_amount=Decimal(cents) / 100,
            currency_id=currency_id,
            payment_type_id=_PAYMENT_TYPE_ID[kind],
            paid=paid,
            payment_date=self.text_date(0, 30),
            company_ac_number=int(self.rng.integers(10_000_000, 100_000_000)),
            counterparty_ac_number=int(self.rng.integers(10_000_000, 100_000_000)),
        )

    def new_orders(self, new_address: int, new_counterparty: int, new_staff: int) -> None:
        designs = _column(self.con, "SELECT design_id FROM design ORDER BY 1")
        staff = _column(self.con, "SELECT staff_id FROM staff ORDER BY 1")
        counterparties = _column(self.con, "SELECT counterparty_id FROM counterparty ORDER BY 1")
        addresses = _column(self.con, "SELECT address_id FROM address ORDER BY 1")
        currencies = _column(self.con, "SELECT currency_id FROM currency ORDER BY 1")
        rng = self.rng

        def one(pool: list[int]) -> int:
            return int(_choice(rng, pool)[0])

        for i in range(int(rng.integers(20, 41))):
            # The first order uses every new reference row, so their FKs are exercised at once.
            counterparty = new_counterparty if i == 0 else one(counterparties)
            units, cents, currency = int(rng.integers(1_000, 100_001)), int(rng.integers(200, 401)), one(currencies)
            so_id = self.insert(
                "sales_order",
                design_id=one(designs),
                staff_id=new_staff if i == 0 else one(staff),
                counterparty_id=counterparty,
                units_sold=units,
                unit_price=Decimal(cents) / 100,
                currency_id=currency,
                agreed_delivery_date=self.text_date(2, 30),
                agreed_payment_date=self.text_date(1, 30),
                agreed_delivery_location_id=new_address if i == 0 else one(addresses),
            )
            tx_id = self.insert("transaction", transaction_type="SALE", sales_order_id=so_id, purchase_order_id=None)
            if rng.random() < _PAYMENT_SHARE:
                self.pay(tx_id, counterparty, units * cents, currency, "SALES_RECEIPT", paid=False)
        for _ in range(int(rng.integers(5, 16))):
            counterparty, currency = one(counterparties), one(currencies)
            quantity, cents = int(rng.integers(1, 1_001)), int(rng.integers(100, 100_001))
            po_id = self.insert(
                "purchase_order",
                staff_id=one(staff),
                counterparty_id=counterparty,
                item_code="".join(values.pick(rng, values.ITEM_CODE_ALPHABET) for _ in range(7)),
                item_quantity=quantity,
                item_unit_price=Decimal(cents) / 100,
                currency_id=currency,
                agreed_delivery_date=self.text_date(2, 30),
                agreed_payment_date=self.text_date(1, 30),
                agreed_delivery_location_id=one(addresses),
            )
            tx_id = self.insert(
                "transaction", transaction_type="PURCHASE", sales_order_id=None, purchase_order_id=po_id
            )
            if rng.random() < _PAYMENT_SHARE:
                self.pay(tx_id, counterparty, quantity * cents, currency, "PURCHASE_PAYMENT", paid=False)

    def pay_older_transactions(self) -> None:
        """Payments for a few transactions from before the batch that had none yet."""
        open_tx = self.con.run(
            "SELECT t.transaction_id, t.transaction_type::text,"
            " coalesce(s.counterparty_id, p.counterparty_id), coalesce(s.currency_id, p.currency_id),"
            " CAST(coalesce(s.units_sold * s.unit_price, p.item_quantity * p.item_unit_price) * 100 AS bigint)"
            " FROM transaction t"
            " LEFT JOIN sales_order s ON s.sales_order_id = t.sales_order_id"
            " LEFT JOIN purchase_order p ON p.purchase_order_id = t.purchase_order_id"
            " WHERE NOT EXISTS (SELECT 1 FROM payment x WHERE x.transaction_id = t.transaction_id)"
            " AND t.created_at < :now ORDER BY t.transaction_id DESC LIMIT 50",
            now=self.now,
        )
        for tx_id, kind, counterparty, currency, cents in _choice(self.rng, open_tx, 3):
            if counterparty is None:  # its order was deleted (ON DELETE SET NULL): nothing to pay
                continue
            payment_type = "SALES_RECEIPT" if kind == "SALE" else "PURCHASE_PAYMENT"
            self.pay(tx_id, counterparty, int(cents), currency, payment_type, paid=True)

    def new_parties(self) -> tuple[int, int, int]:
        """A new address, a counterparty at it and a staff member: (address, counterparty, staff) ids."""
        address = self.insert("address", **values.address_values(self.rng))
        first, last = values.person_name(self.rng)
        counterparty = self.insert(
            "counterparty",
            counterparty_legal_name=values.company_name(self.rng),
            legal_address_id=address,
            commercial_contact=f"{first} {last}",
            delivery_contact=None,
        )
        first, last = values.person_name(self.rng)
        departments = _column(self.con, "SELECT department_id FROM department ORDER BY 1")
        staff = self.insert(
            "staff",
            first_name=first,
            last_name=last,
            department_id=int(_choice(self.rng, departments)[0]),
            email_address=values.email_for(first, last, 0),  # pool names never fold to nothing
        )
        return address, counterparty, staff


def simulate_changes(
    con: pg8000.native.Connection, *, seed: int, now: datetime | None = None, departments: bool = True
) -> ChangeReport:
    """Apply one batch of realistic changes to a seeded totesys, in one transaction.

    Parameters
    ----------
    con
        A connection allowed to write totesys (owner or superuser; never the pipeline's).
    seed
        Seeds every choice; the same seed, ``now`` and database give the same batch.
    now
        The batch's single timestamp. Default: current UTC time truncated to milliseconds,
        moved past the newest existing ``last_updated`` if needed. An explicit value is
        used as given (converted to naive UTC, truncated to milliseconds), so a caller can
        also stage a late-committing batch with an older timestamp.
    departments
        False: no staff member moves and no department is renamed (dim_staff gains only the
        new staff member); the other choices then differ from the same seed's default batch.

    Returns
    -------
    ChangeReport
        Exactly which rows were inserted and updated, with the details of each update.

    Raises
    ------
    SimulationError
        If totesys has no data to change (run the generator first).
    """
    if not con.run("SELECT EXISTS (SELECT 1 FROM sales_order)")[0][0]:
        raise SimulationError("totesys has no sales orders; seed it first (totes seed)")
    rng = np.random.Generator(np.random.PCG64(seed))
    con.run("START TRANSACTION")
    try:
        stamp = _to_millis(now) if now is not None else _default_now(con)
        batch = _Batch(con, rng, stamp)
        details = batch.updates(departments=departments)
        batch.pay_older_transactions()
        batch.new_orders(*batch.new_parties())
        con.run("COMMIT")
    except BaseException:
        with contextlib.suppress(pg8000.native.InterfaceError, pg8000.native.DatabaseError):
            con.run("ROLLBACK")  # a broken connection has no transaction left to roll back
        raise
    return ChangeReport(
        seed=seed,
        now=stamp,
        inserted={t: tuple(batch.inserted[t]) for t in TABLE_ORDER},
        updated={t: tuple(batch.updated[t]) for t in TABLE_ORDER},
        **details,
    )


@dataclass(frozen=True)
class SilentChanges:
    """What ``simulate_silent_changes`` did: changes that leave ``last_updated`` alone (issue 14)."""

    deleted_sales_order_id: int
    nulled_transaction_ids: tuple[int, ...]  # ON DELETE SET NULL of transaction.sales_order_id
    fixed_sales_order_id: int
    old_unit_price: str
    new_unit_price: str

    def describe(self) -> str:
        return "\n".join(
            [
                "Simulated changes the incremental path cannot see (no last_updated moved):",
                f"  sales order {self.deleted_sales_order_id} hard-deleted (transaction"
                f" {', '.join(map(str, self.nulled_transaction_ids)) or 'none'} lost it: ON DELETE SET NULL)",
                f"  sales order {self.fixed_sales_order_id} unit_price fixed in place"
                f" {self.old_unit_price} -> {self.new_unit_price}",
            ]
        )


def simulate_silent_changes(con: pg8000.native.Connection, *, seed: int) -> SilentChanges:
    """Delete one sales order and fix another's price in place, without touching any ``last_updated``:
    what only the comparison finds (``ingestion.compare``); one batch of the generator's kind."""
    try:
        batch = apply_silent_changes(con, seed=seed, deletes={"sales_order": 1}, fixes={"sales_order": 1})
    except SilentChangeError as exc:
        raise SimulationError(f"totesys needs two sales orders; seed it first (totes seed): {exc}") from exc
    (gone,), (fixed,) = batch.deleted["sales_order"], batch.fixed["sales_order"]
    new = con.run("SELECT unit_price FROM sales_order WHERE sales_order_id = :o", o=fixed)[0][0]
    return SilentChanges(gone, batch.nulled_transactions, fixed, str(new - PRICE_FIX), str(new))
