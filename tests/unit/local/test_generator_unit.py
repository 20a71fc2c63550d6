"""The generator's arrays without a database: shape across scales, determinism, values."""

from __future__ import annotations

import math
from collections import Counter
from datetime import date, datetime, timedelta
from decimal import Decimal

import pyarrow as pa
import pytest

from common.source_tables import SOURCE_TABLES, TABLE_ORDER
from local.generator import (
    BAD_CURRENCY_ID,
    BAD_SALES_ORDERS,
    BULK_UPDATE_AT,
    MIN_SALES_ORDERS,
    GeneratorError,
    generate_tables,
    plan_scale,
)

HISTORY_START = datetime(2022, 11, 1)
HISTORY_END = datetime(2025, 10, 31, 23, 59, 59, 999000)


def _collect(seed: int, scale: float, bad_rows: bool = False) -> dict[str, pa.Table]:
    pieces: dict[str, list[pa.Table]] = {}
    for name, rows in generate_tables(seed=seed, scale=scale, bad_rows=bad_rows):
        pieces.setdefault(name, []).append(rows)
    return {name: pa.concat_tables(parts) for name, parts in pieces.items()}


@pytest.fixture(scope="module")
def scale_one() -> dict[str, pa.Table]:
    return _collect(seed=42, scale=1)


@pytest.mark.parametrize("scale", [0.2, 1, 20, 200])
def test_plan_keeps_the_proportions(scale: float) -> None:
    c = plan_scale(scale).counts
    assert c["sales_order"] == max(MIN_SALES_ORDERS, round(5_000 * scale))
    assert c["purchase_order"] == c["sales_order"] // 2
    assert c["transaction"] == c["sales_order"] + c["purchase_order"]
    assert 0.89 * c["transaction"] <= c["payment"] < c["transaction"]
    assert c["currency"] == 3
    assert c["payment_type"] == 4
    assert 8 <= c["department"] <= 12
    for table in ("address", "counterparty", "design", "staff"):
        assert 15 <= c[table] <= 5_000, table
    assert c["counterparty"] < c["address"]  # each counterparty has its own legal address


def test_scale_200_reaches_a_million_sales_orders_and_reference_tables_grow_sub_linearly() -> None:
    small, big = plan_scale(1).counts, plan_scale(200).counts
    assert big["sales_order"] >= 1_000_000
    for table in ("address", "counterparty", "design", "staff"):
        growth = big[table] / small[table]
        assert 5 < growth < 20, (table, growth)  # sqrt(200) ~ 14: grows, far slower than 200x


@pytest.mark.parametrize("scale", [0.2, 1, 5])
def test_generated_arrays_match_the_plan_with_contiguous_ids(scale: float) -> None:
    tables = _collect(seed=3, scale=scale)
    assert list(tables) == list(TABLE_ORDER)
    for name, rows in tables.items():
        assert rows.column_names == list(SOURCE_TABLES[name].column_names)
        assert rows.num_rows == plan_scale(scale).counts[name], name
        ids = rows.column(f"{name}_id").to_pylist()
        assert ids == list(range(1, len(ids) + 1)), name


def test_fractional_scale_has_a_minimum() -> None:
    assert plan_scale(0.001).counts["sales_order"] == MIN_SALES_ORDERS
    assert _collect(seed=1, scale=0.001)["sales_order"].num_rows == MIN_SALES_ORDERS


@pytest.mark.parametrize("scale", [0, -1, math.nan, math.inf, "1"])
def test_invalid_scale_is_refused(scale: object) -> None:
    with pytest.raises(GeneratorError):
        plan_scale(scale)  # type: ignore[arg-type]


def test_negative_seed_is_refused() -> None:
    with pytest.raises(GeneratorError):
        next(generate_tables(seed=-1, scale=1))


def test_same_seed_same_rows_other_seed_other_rows(scale_one: dict[str, pa.Table]) -> None:
    again = _collect(seed=42, scale=1)
    other = _collect(seed=43, scale=1)
    for name in TABLE_ORDER:
        assert again[name].equals(scale_one[name]), name
    for name in ("address", "counterparty", "staff", "design", "sales_order", "purchase_order", "payment"):
        assert not other[name].equals(scale_one[name]), name


def test_timestamps_lie_in_the_history_at_millisecond_precision(scale_one: dict[str, pa.Table]) -> None:
    for name, rows in scale_one.items():
        created, last = rows.column("created_at").to_pylist(), rows.column("last_updated").to_pylist()
        assert rows.schema.field("created_at").type == pa.timestamp("ms")
        assert min(created) >= HISTORY_START
        assert max(last) <= HISTORY_END
        assert all(c <= u for c, u in zip(created, last, strict=True)), name


def test_many_rows_share_one_last_updated_and_many_were_never_updated(scale_one: dict[str, pa.Table]) -> None:
    last = Counter(scale_one["sales_order"].column("last_updated").to_pylist())
    (shared, count), *_ = last.most_common(1)
    assert count >= 1_000
    assert shared == datetime(1970, 1, 1) + timedelta(milliseconds=BULK_UPDATE_AT)
    # Payments are mostly edited (marked paid) later, so they are not in this list.
    for name in ("sales_order", "purchase_order", "transaction", "address", "currency"):
        rows = scale_one[name]
        same = sum(
            c == u for c, u in zip(rows["created_at"].to_pylist(), rows["last_updated"].to_pylist(), strict=True)
        )
        assert same >= 0.2 * rows.num_rows, name


def test_text_dates_are_iso_and_not_before_creation(scale_one: dict[str, pa.Table]) -> None:
    checks = {
        "sales_order": ("agreed_delivery_date", "agreed_payment_date"),
        "purchase_order": ("agreed_delivery_date", "agreed_payment_date"),
        "payment": ("payment_date",),
    }
    for name, columns in checks.items():
        rows = scale_one[name]
        created = rows["created_at"].to_pylist()
        for column in columns:
            texts = rows[column].to_pylist()
            assert all(len(t) == 10 for t in texts)
            assert all(date.fromisoformat(t) >= c.date() for t, c in zip(texts, created, strict=True)), column


def test_money_is_exact_two_place_decimal(scale_one: dict[str, pa.Table]) -> None:
    prices = scale_one["sales_order"]["unit_price"]
    assert prices.type == pa.decimal128(10, 2)
    values = prices.to_pylist()
    assert all(Decimal("2.00") <= v <= Decimal("4.00") and v.as_tuple().exponent == -2 for v in values)
    orders = scale_one["sales_order"].to_pylist()
    sales_tx = {t["transaction_id"]: t["sales_order_id"] for t in scale_one["transaction"].to_pylist()}
    by_id = {o["sales_order_id"]: o for o in orders}
    for payment in scale_one["payment"].to_pylist()[:500]:
        so_id = sales_tx[payment["transaction_id"]]
        if so_id is not None:
            order = by_id[so_id]
            assert payment["payment_amount"] == order["units_sold"] * order["unit_price"]


def test_currencies_and_payment_types_are_the_real_codes(scale_one: dict[str, pa.Table]) -> None:
    assert scale_one["currency"]["currency_code"].to_pylist() == ["GBP", "USD", "EUR"]
    assert scale_one["payment_type"]["payment_type_name"].to_pylist() == [
        "SALES_RECEIPT",
        "SALES_REFUND",
        "PURCHASE_PAYMENT",
        "PURCHASE_REFUND",
    ]


def test_bad_rows_are_off_by_default_and_documented_when_on(scale_one: dict[str, pa.Table]) -> None:
    bad = _collect(seed=42, scale=1, bad_rows=True)
    n = scale_one["sales_order"].num_rows
    assert bad["sales_order"].num_rows == n + BAD_SALES_ORDERS
    extra = bad["sales_order"].slice(n).to_pylist()

    def parses(text: str) -> bool:
        try:
            date.fromisoformat(text)
        except ValueError:
            return False
        return True

    assert all(not parses(o["agreed_delivery_date"]) or not parses(o["agreed_payment_date"]) for o in extra)
    last_payment = bad["payment"].slice(bad["payment"].num_rows - 1).to_pylist()[0]
    assert last_payment["currency_id"] == BAD_CURRENCY_ID
    assert last_payment["payment_date"] == ""
    # The good rows are the same with or without the extras.
    assert bad["sales_order"].slice(0, n).equals(scale_one["sales_order"])
