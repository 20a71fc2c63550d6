"""Deterministic synthetic totesys data, built as Arrow columns and bulk-loaded with COPY.

``generate_tables`` yields ``(table, pyarrow.Table)`` pieces in load order (parents
before children); ``seed_database`` streams them into an empty totesys as CSV through
``COPY ... FROM STDIN``. The same ``seed`` and ``scale`` always give the same rows: every
random draw comes from a ``numpy`` PCG64 stream derived from the seed, and nothing reads
the wall clock.

Shape (``plan_scale``): scale 1 is 5,000 sales orders, scale 200 is 1,000,000; purchase
orders are half as many; every order has one transaction; 90 % of transactions have a
payment. Addresses, counterparties, staff and designs grow with the square root of the
scale (hundreds to a few thousand rows); currency (GBP, USD, EUR), department (10) and
payment_type (the four enum values) are fixed.

The big tables are generated in chunks of ``CHUNK_SALES_ORDERS`` sales orders (with the
purchase orders, transactions and payments of the same time slice), so memory stays
bounded at any scale. Each chunk has its own random stream, so chunks are independent.

Hard cases, always present (``local.generator_values.HARD_TEXT`` and friends): NULL in
every nullable column; the empty string, distinct from NULL, in address_line_2, district,
commercial_contact and delivery_contact; quotes, commas, ``\\n``, ``\\r\\n``,
tabs, backslashes and non-ASCII text; ``SHARED_LAST_UPDATED_ROWS`` sales orders sharing
exactly one ``last_updated`` (``BULK_UPDATE_AT``, a bulk update); most rows with
``last_updated == created_at``. Timestamps lie in 2022-11-01 .. 2025-10-31 at millisecond
precision, so a first ingestion run (upper bound = run start) takes everything.

``bad_rows=True`` (demos only) appends ``BAD_SALES_ORDERS`` sales orders whose text dates
do not parse ('not a date', '2023-02-30', '31/12/2024'), their transactions, and one
payment with an empty ``payment_date`` and a ``currency_id`` (99) that does not exist
(payment has no foreign key there, SPEC §1). Transform must quarantine them.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pg8000.native
import pyarrow as pa
import pyarrow.csv as pacsv
from pg8000.native import identifier

from common.source_tables import ENUM_VALUES, SOURCE_TABLES, TABLE_ORDER
from local import generator_values as values

# --- shape -------------------------------------------------------------------------------

SALES_ORDERS_PER_SCALE = 5_000
MIN_SALES_ORDERS = 200
CHUNK_SALES_ORDERS = 100_000  # part of the data's identity: changing it changes the rows
PAYMENT_SHARE = 0.9  # of each chunk's transactions; the rest are unpaid so far
REFUND_SHARE = 0.03
UPDATED_SHARE = 0.3  # rows whose last_updated is later than created_at
SHARED_LAST_UPDATED_ROWS = 1_200  # >= 1,000 at scale 1: crosses any ingestion batch size

# --- time (milliseconds since the epoch, UTC by convention) ------------------------------

_MS_PER_DAY = 86_400_000


def _ms(iso: str) -> int:
    return int(np.datetime64(iso, "ms").astype(np.int64))


HISTORY_START = _ms("2022-11-01T00:00:00.000")
HISTORY_END = _ms("2025-10-31T23:59:59.999")  # inclusive: nothing is later
_REFERENCE_DATA_DAYS = 30  # addresses, staff, ... are created in the first month
_ORDERS_START = HISTORY_START + _REFERENCE_DATA_DAYS * _MS_PER_DAY
_ORDERS_END = _ms("2025-10-31T00:00:00.000")  # exclusive; before BULK_UPDATE_AT
BULK_UPDATE_AT = _ms("2025-10-31T09:30:00.000")

BAD_SALES_ORDERS = 3
_BAD_DATES = (("not a date", "2024-01-15"), ("2023-02-30", "2023-03-01"), ("2024-05-01", "31/12/2024"))
BAD_CURRENCY_ID = 99

_PAYMENT_TYPE_ID = {name: i + 1 for i, name in enumerate(ENUM_VALUES["payment_type_name"])}


class GeneratorError(RuntimeError):
    """The target database is not an empty totesys, or the arguments make no sense."""


@dataclass(frozen=True)
class ScalePlan:
    """How many rows each table gets at one scale, and how the big tables are chunked.

    Attributes
    ----------
    counts
        Rows per source table (without ``bad_rows``), in ``TABLE_ORDER``.
    sales_chunks
        ``(first_id, last_id)`` of the sales orders of each chunk.
    shared_last_updated_rows
        Sales orders whose ``last_updated`` is exactly ``BULK_UPDATE_AT``.
    item_codes
        Distinct purchase-order item codes in the pool.
    """

    scale: float
    counts: dict[str, int]
    sales_chunks: tuple[tuple[int, int], ...]
    shared_last_updated_rows: int
    item_codes: int

    def purchase_range(self, first_sales_id: int, last_sales_id: int) -> tuple[int, int]:
        """Purchase-order ids ``(first, last)`` in the same time slice as the sales-order ids."""
        n_so, n_po = self.counts["sales_order"], self.counts["purchase_order"]
        return (first_sales_id - 1) * n_po // n_so + 1, last_sales_id * n_po // n_so


def plan_scale(scale: float) -> ScalePlan:
    """Row counts for ``scale`` (scale 1 = 5,000 sales orders; fractional scales allowed).

    Parameters
    ----------
    scale
        Positive and finite. Below 0.04 the minimum of ``MIN_SALES_ORDERS`` applies.

    Returns
    -------
    ScalePlan
        Counts per table and the chunking of the big tables.

    Raises
    ------
    GeneratorError
        If ``scale`` is not a positive finite number.
    """
    if not (isinstance(scale, int | float) and math.isfinite(scale) and scale > 0):
        raise GeneratorError(f"scale must be a positive number, not {scale!r}")
    n_so = max(MIN_SALES_ORDERS, round(SALES_ORDERS_PER_SCALE * scale))
    n_po = n_so // 2
    root = math.sqrt(scale)
    chunks = tuple((lo, min(lo + CHUNK_SALES_ORDERS - 1, n_so)) for lo in range(1, n_so + 1, CHUNK_SALES_ORDERS))
    counts = {
        "address": max(40, round(200 * root)),
        "counterparty": max(20, round(100 * root)),
        "currency": len(values.CURRENCIES),
        "department": len(values.DEPARTMENTS),
        "design": max(15, round(60 * root)),
        "staff": max(20, round(60 * root)),
        "payment_type": len(ENUM_VALUES["payment_type_name"]),
        "sales_order": n_so,
        "purchase_order": n_po,
        "transaction": n_so + n_po,
    }
    plan = ScalePlan(scale, counts, chunks, min(SHARED_LAST_UPDATED_ROWS, n_so // 4), max(20, round(100 * root)))
    counts["payment"] = sum(
        math.floor(PAYMENT_SHARE * (hi - lo + 1 + _span(plan.purchase_range(lo, hi)))) for lo, hi in chunks
    )
    return plan


def _span(id_range: tuple[int, int]) -> int:
    return id_range[1] - id_range[0] + 1


# --- Arrow column helpers ----------------------------------------------------------------


def _rng(seed: int, *stream: int) -> np.random.Generator:
    """An independent PCG64 stream per (seed, purpose, chunk): chunks never share draws."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy=seed, spawn_key=stream)))


def _int(a: np.ndarray, null_mask: np.ndarray | None = None) -> pa.Array:
    return pa.array(a.astype(np.int32), type=pa.int32(), mask=null_mask)


def _timestamp(ms: np.ndarray) -> pa.Array:
    return pa.array(ms.astype("datetime64[ms]"), type=pa.timestamp("ms"))


def _text_date(ms: np.ndarray, plus_days: np.ndarray) -> pa.Array:
    """'YYYY-MM-DD' text (the source stores these dates as text)."""
    days = (ms // _MS_PER_DAY + plus_days).astype(np.int32)
    return pa.array(days, type=pa.date32()).cast(pa.string())


def _money(cents: np.ndarray) -> pa.Array:
    """Exact numeric(10,2) from integer cents: Arrow's decimal128 is the unscaled integer
    as 16 little-endian bytes, so building it from cents never passes through a float."""
    words = np.zeros((len(cents), 2), dtype="<i8")
    words[:, 0] = cents
    words[:, 1] = np.where(cents < 0, -1, 0)  # sign extension into the high word
    return pa.Array.from_buffers(pa.decimal128(10, 2), len(cents), [None, pa.py_buffer(words.tobytes())])


def _later(rng: np.random.Generator, created: np.ndarray, share: float, max_days: int) -> np.ndarray:
    """last_updated: equal to created_at for most rows, a later edit for ``share`` of them."""
    last = created.copy()
    edited = rng.random(len(created)) < share
    last[edited] += rng.integers(60_000, max_days * _MS_PER_DAY, int(edited.sum()))
    return np.minimum(last, HISTORY_END)


def _table(name: str, columns: dict[str, pa.Array]) -> pa.Table:
    """Columns in the DDL order of the source contract (the COPY column list)."""
    return pa.table(columns).select(list(SOURCE_TABLES[name].column_names))


def _reference_times(rng: np.random.Generator, n: int) -> tuple[pa.Array, pa.Array]:
    created = np.sort(rng.integers(HISTORY_START, HISTORY_START + _REFERENCE_DATA_DAYS * _MS_PER_DAY, n))
    return _timestamp(created), _timestamp(_later(rng, created, 0.2, 365))


# --- small (reference) tables --------------------------------------------------------------


@dataclass(frozen=True)
class _Reference:
    """What the big tables need to know about the reference tables they point at."""

    n_address: int
    n_counterparty: int
    n_design: int
    n_staff: int
    item_codes: pa.Array
    counterparty_accounts: np.ndarray  # index = counterparty_id - 1
    company_accounts: np.ndarray


def _address(rng: np.random.Generator, n: int) -> pa.Table:
    rows = [values.address_values(rng) for _ in range(n)]
    # The hard cases go first, where they exist at every scale.
    for row, text in zip(rows, values.HARD_TEXT.values(), strict=False):
        row["address_line_1"] = text
    k = len(values.HARD_TEXT)
    rows[0]["address_line_2"] = 'Flat 3, "Top" Floor'
    rows[1]["district"] = "Saint-Étienne\tnord"
    rows[k]["address_line_2"], rows[k]["district"] = None, None  # NULL in both nullable columns
    rows[k + 1]["address_line_2"], rows[k + 1]["district"] = "", ""  # '' distinct from NULL
    created, last = _reference_times(rng, n)
    cols = {c: pa.array([r[c] for r in rows], pa.string()) for c in rows[0]}
    return _table(
        "address", {"address_id": _int(np.arange(1, n + 1)), **cols, "created_at": created, "last_updated": last}
    )


def _counterparty(rng: np.random.Generator, n: int, n_address: int) -> pa.Table:
    names = [values.company_name(rng) for _ in range(n)]
    names[: len(values.HARD_COUNTERPARTY_NAMES)] = values.HARD_COUNTERPARTY_NAMES
    contacts: dict[str, list[str | None]] = {"commercial_contact": [], "delivery_contact": []}
    for column in contacts.values():
        for _ in range(n):
            first, last = values.person_name(rng)
            column.append(None if rng.random() < 0.1 else f"{first} {last}")
    contacts["commercial_contact"][5:7] = [None, ""]
    contacts["delivery_contact"][7:9] = [None, ""]
    legal = rng.permutation(n_address)[:n] + 1  # each counterparty has its own legal address
    created, last = _reference_times(rng, n)
    return _table(
        "counterparty",
        {
            "counterparty_id": _int(np.arange(1, n + 1)),
            "counterparty_legal_name": pa.array(names, pa.string()),
            "legal_address_id": _int(legal),
            **{c: pa.array(v, pa.string()) for c, v in contacts.items()},
            "created_at": created,
            "last_updated": last,
        },
    )


def _fixed(name: str, id_column: str, columns: dict[str, list[str | None]]) -> pa.Table:
    """A small fixed table created and last updated at the start of the history."""
    n = len(next(iter(columns.values())))
    start = _timestamp(np.full(n, HISTORY_START, dtype=np.int64))
    return _table(
        name,
        {
            id_column: _int(np.arange(1, n + 1)),
            **{c: pa.array(v, pa.string()) for c, v in columns.items()},
            "created_at": start,
            "last_updated": start,
        },
    )


def _design(rng: np.random.Generator, n: int) -> pa.Table:
    created_ms = np.sort(rng.integers(HISTORY_START, HISTORY_START + _REFERENCE_DATA_DAYS * _MS_PER_DAY, n))
    names, locations, files = [], [], []
    for i in range(n):
        word = values.pick(rng, values.DESIGN_WORDS)
        names.append(word)
        locations.append(values.pick(rng, values.FILE_LOCATIONS))
        day = np.datetime64(int(created_ms[i]), "ms").astype("datetime64[D]").astype(str).replace("-", "")
        suffix = "".join(chr(ord("a") + int(c)) for c in rng.integers(0, 26, 4))
        files.append(f"{word.lower()}-{day}-{suffix}.json")
    names[: len(values.HARD_DESIGN_NAMES)] = values.HARD_DESIGN_NAMES
    return _table(
        "design",
        {
            "design_id": _int(np.arange(1, n + 1)),
            "design_name": pa.array(names, pa.string()),
            "file_location": pa.array(locations, pa.string()),
            "file_name": pa.array(files, pa.string()),
            "created_at": _timestamp(created_ms),
            "last_updated": _timestamp(_later(rng, created_ms, 0.2, 365)),
        },
    )


def _staff(rng: np.random.Generator, n: int) -> pa.Table:
    people = [values.person_name(rng) for _ in range(n)]
    people[: len(values.HARD_STAFF)] = values.HARD_STAFF
    created, last = _reference_times(rng, n)
    return _table(
        "staff",
        {
            "staff_id": _int(np.arange(1, n + 1)),
            "first_name": pa.array([p[0] for p in people], pa.string()),
            "last_name": pa.array([p[1] for p in people], pa.string()),
            "department_id": _int(rng.integers(1, len(values.DEPARTMENTS) + 1, n)),
            "email_address": pa.array([values.email_for(f, la, i + 1) for i, (f, la) in enumerate(people)]),
            "created_at": created,
            "last_updated": last,
        },
    )


def _reference_tables(seed: int, plan: ScalePlan) -> tuple[list[tuple[str, pa.Table]], _Reference]:
    c = plan.counts
    rng = _rng(seed, 0)
    tables = [
        ("address", _address(rng, c["address"])),
        ("counterparty", _counterparty(rng, c["counterparty"], c["address"])),
        ("currency", _fixed("currency", "currency_id", {"currency_code": list(values.CURRENCIES)})),
        (
            "department",
            _fixed(
                "department",
                "department_id",
                {
                    "department_name": [d[0] for d in values.DEPARTMENTS],
                    "location": [d[1] for d in values.DEPARTMENTS],
                    "manager": [d[2] for d in values.DEPARTMENTS],
                },
            ),
        ),
        ("design", _design(rng, c["design"])),
        ("staff", _staff(rng, c["staff"])),
        (
            "payment_type",
            _fixed("payment_type", "payment_type_id", {"payment_type_name": list(ENUM_VALUES["payment_type_name"])}),
        ),
    ]
    codes = sorted(
        {"".join(values.pick(rng, values.ITEM_CODE_ALPHABET) for _ in range(7)) for _ in range(plan.item_codes)}
    )
    ref = _Reference(
        n_address=c["address"],
        n_counterparty=c["counterparty"],
        n_design=c["design"],
        n_staff=c["staff"],
        item_codes=pa.array(codes, pa.string()),
        counterparty_accounts=rng.integers(10_000_000, 100_000_000, c["counterparty"]),
        company_accounts=rng.integers(10_000_000, 100_000_000, 3),
    )
    return tables, ref


# --- big tables, one time slice (chunk) at a time -----------------------------------------


@dataclass
class _Orders:
    """One chunk's orders of one kind, as numpy columns the transactions and payments reuse."""

    ids: np.ndarray
    created: np.ndarray
    counterparty: np.ndarray
    currency: np.ndarray
    total_cents: np.ndarray


def _time_slice(plan: ScalePlan, lo: int, hi: int) -> tuple[int, int]:
    span, n_so = _ORDERS_END - _ORDERS_START, plan.counts["sales_order"]
    return _ORDERS_START + span * (lo - 1) // n_so, _ORDERS_START + span * hi // n_so


def _currencies(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.choice(len(values.CURRENCIES), n, p=values.CURRENCY_WEIGHTS) + 1


def _sales_orders(
    rng: np.random.Generator, ref: _Reference, ids: np.ndarray, t_slice: tuple[int, int], bulk_ids: np.ndarray
) -> tuple[pa.Table, _Orders]:
    n = len(ids)
    created = np.sort(rng.integers(t_slice[0], t_slice[1], n))
    last = _later(rng, created, UPDATED_SHARE, 60)
    # A bulk update touched these orders at one instant: many rows, one last_updated.
    last[np.isin(ids, bulk_ids)] = BULK_UPDATE_AT
    units, cents = rng.integers(1_000, 100_001, n), rng.integers(200, 401, n)  # 2.00 .. 4.00 a bag
    counterparty, currency = rng.integers(1, ref.n_counterparty + 1, n), _currencies(rng, n)
    table = _table(
        "sales_order",
        {
            "sales_order_id": _int(ids),
            "design_id": _int(rng.integers(1, ref.n_design + 1, n)),
            "staff_id": _int(rng.integers(1, ref.n_staff + 1, n)),
            "counterparty_id": _int(counterparty),
            "units_sold": _int(units),
            "unit_price": _money(cents),
            "currency_id": _int(currency),
            "agreed_delivery_date": _text_date(created, rng.integers(2, 31, n)),
            "agreed_payment_date": _text_date(created, rng.integers(1, 31, n)),
            "agreed_delivery_location_id": _int(rng.integers(1, ref.n_address + 1, n)),
            "created_at": _timestamp(created),
            "last_updated": _timestamp(last),
        },
    )
    return table, _Orders(ids, created, counterparty, currency, units * cents)


def _purchase_orders(
    rng: np.random.Generator, ref: _Reference, ids: np.ndarray, t_slice: tuple[int, int]
) -> tuple[pa.Table, _Orders]:
    n = len(ids)
    created = np.sort(rng.integers(t_slice[0], t_slice[1], n))
    quantity, cents = rng.integers(1, 1_001, n), rng.integers(100, 100_001, n)
    counterparty, currency = rng.integers(1, ref.n_counterparty + 1, n), _currencies(rng, n)
    table = _table(
        "purchase_order",
        {
            "purchase_order_id": _int(ids),
            "staff_id": _int(rng.integers(1, ref.n_staff + 1, n)),
            "counterparty_id": _int(counterparty),
            "item_code": ref.item_codes.take(pa.array(rng.integers(0, len(ref.item_codes), n))),
            "item_quantity": _int(quantity),
            "item_unit_price": _money(cents),
            "currency_id": _int(currency),
            "agreed_delivery_date": _text_date(created, rng.integers(2, 31, n)),
            "agreed_payment_date": _text_date(created, rng.integers(1, 31, n)),
            "agreed_delivery_location_id": _int(rng.integers(1, ref.n_address + 1, n)),
            "created_at": _timestamp(created),
            "last_updated": _timestamp(_later(rng, created, UPDATED_SHARE, 60)),
        },
    )
    return table, _Orders(ids, created, counterparty, currency, quantity * cents)


def _transactions(tx_ids: np.ndarray, order_id: np.ndarray, is_sale: np.ndarray, created: np.ndarray) -> pa.Table:
    """The transaction rows: one per order (sale or purchase), never edited."""
    return _table(
        "transaction",
        {
            "transaction_id": _int(tx_ids),
            "transaction_type": pa.array(list(ENUM_VALUES["transaction_type"])).take(
                pa.array((~is_sale).astype(np.int8))
            ),
            "sales_order_id": _int(order_id, null_mask=~is_sale),
            "purchase_order_id": _int(order_id, null_mask=is_sale),
            "created_at": _timestamp(created),
            "last_updated": _timestamp(created),  # a transaction is never edited
        },
    )


def _transactions_and_payments(
    rng: np.random.Generator, ref: _Reference, sales: _Orders, purchases: _Orders, first_tx: int, first_payment: int
) -> tuple[pa.Table, pa.Table]:
    """One transaction per order, in creation order; a payment for PAYMENT_SHARE of them."""
    n_s, n = len(sales.ids), len(sales.ids) + len(purchases.ids)
    created_all = np.concatenate([sales.created, purchases.created])
    order = np.argsort(created_all, kind="stable")
    is_sale = order < n_s
    created = created_all[order]
    order_id = np.concatenate([sales.ids, purchases.ids])[order]
    tx_ids = np.arange(first_tx, first_tx + n)
    transactions = _transactions(tx_ids, order_id, is_sale, created)
    n_pay = math.floor(PAYMENT_SHARE * n)
    paid_tx = np.sort(rng.choice(n, n_pay, replace=False))
    pay_created = np.minimum(created[paid_tx] + rng.integers(0, 3 * _MS_PER_DAY, n_pay), HISTORY_END)
    by_time = np.argsort(pay_created, kind="stable")  # ids follow creation order within a chunk
    paid_tx, pay_created = paid_tx[by_time], pay_created[by_time]
    src = order[paid_tx]  # index into the concatenated sales+purchases arrays
    sale = is_sale[paid_tx]
    refund = rng.random(n_pay) < REFUND_SHARE
    t = _PAYMENT_TYPE_ID
    names = np.where(
        sale,
        np.where(refund, t["SALES_REFUND"], t["SALES_RECEIPT"]),
        np.where(refund, t["PURCHASE_REFUND"], t["PURCHASE_PAYMENT"]),
    )
    counterparty = np.concatenate([sales.counterparty, purchases.counterparty])[src]
    paid = rng.random(n_pay) < 0.85
    payments = _table(
        "payment",
        {
            "payment_id": _int(np.arange(first_payment, first_payment + n_pay)),
            "transaction_id": _int(tx_ids[paid_tx]),
            "counterparty_id": _int(counterparty),
            "payment_amount": _money(np.concatenate([sales.total_cents, purchases.total_cents])[src]),
            "currency_id": _int(np.concatenate([sales.currency, purchases.currency])[src]),
            "payment_type_id": _int(names),
            "paid": pa.array(paid, pa.bool_()),
            "payment_date": _text_date(pay_created, rng.integers(0, 31, n_pay)),
            "company_ac_number": _int(ref.company_accounts[rng.integers(0, len(ref.company_accounts), n_pay)]),
            "counterparty_ac_number": _int(ref.counterparty_accounts[counterparty - 1]),
            "created_at": _timestamp(pay_created),
            # Marking a payment paid is the usual edit.
            "last_updated": _timestamp(np.where(paid, _later(rng, pay_created, 1.0, 30), pay_created)),
        },
    )
    return transactions, payments


def _bad_rows(
    rng: np.random.Generator, ref: _Reference, plan: ScalePlan, first_tx: int, first_payment: int
) -> list[tuple[str, pa.Table]]:
    """A few clearly bad rows for demos (see the module docstring)."""
    n_so = plan.counts["sales_order"]
    ids = np.arange(n_so + 1, n_so + 1 + BAD_SALES_ORDERS)
    table, sales = _sales_orders(rng, ref, ids, (_ORDERS_END - _MS_PER_DAY, _ORDERS_END), ids[:0])
    table = table.set_column(
        table.schema.get_field_index("agreed_delivery_date"),
        "agreed_delivery_date",
        pa.array([d for d, _ in _BAD_DATES]),
    )
    table = table.set_column(
        table.schema.get_field_index("agreed_payment_date"), "agreed_payment_date", pa.array([p for _, p in _BAD_DATES])
    )
    no_purchases = _Orders(*(np.zeros(0, dtype=np.int64) for _ in range(5)))
    transactions, payments = _transactions_and_payments(rng, ref, sales, no_purchases, first_tx, first_payment)
    payments = payments.slice(0, 1)
    payments = payments.set_column(payments.schema.get_field_index("payment_date"), "payment_date", pa.array([""]))
    payments = payments.set_column(
        payments.schema.get_field_index("currency_id"), "currency_id", pa.array([BAD_CURRENCY_ID], pa.int32())
    )
    return [("sales_order", table), ("transaction", transactions), ("payment", payments)]


def generate_tables(*, seed: int, scale: float, bad_rows: bool = False) -> Iterator[tuple[str, pa.Table]]:
    """Yield the whole database as ``(table name, rows)`` pieces, parents before children.

    The seven reference tables come first (one piece each, ``TABLE_ORDER``), then, per
    chunk of ``CHUNK_SALES_ORDERS`` sales orders: sales_order, purchase_order,
    transaction, payment. A table's pieces are in id order and its ids are 1..n.

    Parameters
    ----------
    seed
        Non-negative integer; the same seed and scale always give the same rows.
    scale
        See ``plan_scale``.
    bad_rows
        Append the documented bad rows (demos of quarantine; off for tests of good data).

    Yields
    ------
    tuple[str, pyarrow.Table]
        Table name and rows whose columns follow ``common.source_tables`` order.
    """
    if not isinstance(seed, int) or seed < 0:
        raise GeneratorError(f"seed must be a non-negative integer, not {seed!r}")
    plan = plan_scale(scale)
    reference, ref = _reference_tables(seed, plan)
    yield from reference
    bulk_ids = np.sort(
        _rng(seed, 1).choice(plan.counts["sales_order"], plan.shared_last_updated_rows, replace=False) + 1
    )
    next_tx = next_payment = 1
    for k, (lo, hi) in enumerate(plan.sales_chunks):
        rng = _rng(seed, 2, k)
        t_slice = _time_slice(plan, lo, hi)
        so_table, sales = _sales_orders(rng, ref, np.arange(lo, hi + 1), t_slice, bulk_ids)
        po_lo, po_hi = plan.purchase_range(lo, hi)
        po_table, purchases = _purchase_orders(rng, ref, np.arange(po_lo, po_hi + 1), t_slice)
        tx_table, pay_table = _transactions_and_payments(rng, ref, sales, purchases, next_tx, next_payment)
        next_tx += tx_table.num_rows
        next_payment += pay_table.num_rows
        yield from (("sales_order", so_table), ("purchase_order", po_table), ("transaction", tx_table))
        yield "payment", pay_table
    if bad_rows:
        yield from _bad_rows(_rng(seed, 3), ref, plan, next_tx, next_payment)


# --- loading ------------------------------------------------------------------------------

_CSV_PIECE_BYTES = 1 << 20


def _csv_pieces(rows: pa.Table) -> Iterator[bytes]:
    """CSV for COPY, in ~1 MiB messages. Arrow quotes every string and writes NULL as an
    empty unquoted field, which is exactly how COPY's CSV format tells NULL from ''.
    Quoted fields carry newlines, quotes (doubled), tabs and backslashes verbatim."""
    sink = io.BytesIO()
    pacsv.write_csv(rows, sink, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    data = sink.getbuffer()
    for start in range(0, len(data), _CSV_PIECE_BYTES):
        yield bytes(data[start : start + _CSV_PIECE_BYTES])


def copy_rows(con: pg8000.native.Connection, table: str, rows: pa.Table) -> None:
    """``COPY table (columns) FROM STDIN`` the rows as CSV; names come from the allow-list.

    Parameters
    ----------
    con
        Connection allowed to write ``table``.
    table
        A source table of ``common.source_tables`` (anything else raises KeyError).
    rows
        Columns named and ordered as the source contract says.
    """
    columns = SOURCE_TABLES[table].column_names
    if tuple(rows.column_names) != columns:
        raise GeneratorError(f"{table}: columns {rows.column_names} do not match the contract {columns}")
    column_list = ", ".join(identifier(c) for c in columns)
    con.run(f"COPY {identifier(table)} ({column_list}) FROM STDIN WITH (FORMAT csv)", stream=_csv_pieces(rows))


def _require_empty(con: pg8000.native.Connection) -> None:
    for table in TABLE_ORDER:
        if con.run(f"SELECT EXISTS (SELECT 1 FROM {identifier(table)})")[0][0]:  # noqa: S608  # nosec B608
            raise GeneratorError(f"totesys is not empty ({table} has rows); seed a fresh database")


def _insert_prisma_migrations(con: pg8000.native.Connection) -> None:
    """Two rows like the migration tool's, so the pipeline has a table it must skip."""
    for migration_id, checksum, name, finished in values.PRISMA_MIGRATIONS:
        con.run(
            "INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, started_at,"
            " applied_steps_count) VALUES (:id, :checksum, CAST(:finished AS timestamptz), :name,"
            " CAST(:finished AS timestamptz) - interval '2 seconds', 1)",
            id=migration_id,
            checksum=checksum,
            finished=finished,
            name=name,
        )


@dataclass(frozen=True)
class _Deferred:
    """A constraint or index taken off a table for the bulk load, and how to put it back."""

    table: str
    name: str
    recreate: str  # full statement; the definition text comes from PostgreSQL's own catalog


def _defer_constraints_and_indexes(con: pg8000.native.Connection) -> list[_Deferred]:
    """Drop foreign keys, UNIQUE constraints and secondary indexes of the source tables.

    PostgreSQL's "Populating a Database" advice: a foreign key checked row by row by a
    trigger, and random inserts into a b-tree, cost more than loading the rows; checking
    and building them once afterwards is a single set-based pass each. At a million sales
    orders this makes the load about three times faster here (docs/benchmarks.md). Primary keys stay (ids arrive
    sorted, so they are cheap). Everything happens inside the load's transaction, so a
    failure rolls the schema back with the data; re-adding a foreign key validates every
    row, so the guarantee is the same as loading with the constraints in place.
    """
    deferred: list[_Deferred] = []
    constraints = con.run(
        "SELECT c.relname, k.conname, pg_get_constraintdef(k.oid), k.contype FROM pg_constraint k"
        " JOIN pg_class c ON c.oid = k.conrelid"
        " WHERE k.contype IN ('f', 'u') AND k.connamespace = 'public'::regnamespace"
        " ORDER BY k.contype, c.relname, k.conname"  # 'f' before 'u': drop referencing first
    )
    for table, name, definition, _ in constraints:
        if table not in SOURCE_TABLES:  # only allow-listed tables are touched
            continue
        con.run(f"ALTER TABLE {identifier(table)} DROP CONSTRAINT {identifier(name)}")
        deferred.append(
            _Deferred(table, name, f"ALTER TABLE {identifier(table)} ADD CONSTRAINT {identifier(name)} {definition}")
        )
    indexes = con.run(
        "SELECT tablename, indexname, indexdef FROM pg_indexes i WHERE schemaname = 'public'"
        " AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conname = i.indexname) ORDER BY tablename, indexname"
    )
    for table, name, definition in indexes:
        if table not in SOURCE_TABLES:
            continue
        con.run(f"DROP INDEX {identifier(name)}")
        deferred.append(_Deferred(table, name, definition))
    return deferred


def _restore(con: pg8000.native.Connection, deferred: list[_Deferred]) -> None:
    """Re-create in reverse drop order: indexes, then UNIQUE constraints, then foreign keys."""
    for item in reversed(deferred):
        con.run(item.recreate)


def _advance_sequences(con: pg8000.native.Connection, counts: dict[str, int]) -> None:
    """Move each serial sequence past the loaded ids: they are 1..n, so the next value is n + 1."""
    for table in TABLE_ORDER:
        con.run(
            "SELECT setval(pg_get_serial_sequence(:t, :c), :n)",
            t=table,
            c=SOURCE_TABLES[table].primary_key,
            n=counts[table],
        )


def seed_database(con: pg8000.native.Connection, *, seed: int, scale: float, bad_rows: bool = False) -> dict[str, int]:
    """Fill an empty totesys with deterministic synthetic data, in one transaction.

    Loads every table with ``COPY ... FROM STDIN`` (never row inserts), parents before
    children, with foreign keys, UNIQUE constraints and secondary indexes re-created
    (and so validated) after the rows are in (``_defer_constraints_and_indexes``); adds
    the ``_prisma_migrations`` rows; moves each serial sequence past the loaded ids (so
    later inserts get fresh ids); then runs ANALYZE.

    Parameters
    ----------
    con
        Owner or superuser connection to a totesys created from ``sql/totesys/schema.sql``.
    seed, scale, bad_rows
        See ``generate_tables``.

    Returns
    -------
    dict[str, int]
        Rows loaded per table, in ``TABLE_ORDER``.

    Raises
    ------
    GeneratorError
        If a table already has rows, or the arguments are invalid.
    pg8000.native.DatabaseError
        If PostgreSQL rejects the data (nothing is left behind: one transaction).
    """
    counts = dict.fromkeys(TABLE_ORDER, 0)
    plan_scale(scale)  # validate the arguments before touching the database
    _require_empty(con)
    con.run("START TRANSACTION")
    try:
        # Local to this transaction: room to build indexes and validate foreign keys in
        # memory in one pass each, instead of spilling sorts and hashes to disk.
        con.run("SET LOCAL work_mem = '256MB'")
        con.run("SET LOCAL maintenance_work_mem = '512MB'")
        deferred = _defer_constraints_and_indexes(con)
        for table, rows in generate_tables(seed=seed, scale=scale, bad_rows=bad_rows):
            copy_rows(con, table, rows)
            counts[table] += rows.num_rows
        _restore(con, deferred)
        _insert_prisma_migrations(con)
        _advance_sequences(con, counts)
        con.run("COMMIT")
    except BaseException:
        # A connection broken mid-COPY cannot roll back; the server discards the
        # transaction anyway, and the original error is the one worth raising.
        with contextlib.suppress(pg8000.native.InterfaceError, pg8000.native.DatabaseError):
            con.run("ROLLBACK")
        raise
    con.run("ANALYZE")  # fresh statistics so the first ingestion query plans well
    return counts
