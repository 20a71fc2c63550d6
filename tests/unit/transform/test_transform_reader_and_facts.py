"""Reader validation, fact building, dim_date, snapshots, on tiny inputs."""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from common.source_tables import SOURCE_TABLES
from transform.dim_date import build_dim_date
from transform.facts import KnownIds, build_fact_payment, foreign_key_checks, referenced_dates
from transform.reader import ObjectRows, iter_blocks, iter_chunks
from transform.rejects import split_rejected
from transform.snapshot import apply_changes, empty_state, latest_per_key

PAYMENT = {
    "payment_id": 1, "created_at": "2024-05-06T07:08:09.010", "last_updated": "2024-05-07T00:00:00",
    "transaction_id": 2, "counterparty_id": 3, "payment_amount": "10.1", "currency_id": 1, "payment_type_id": 4,
    "paid": True, "payment_date": "2024-05-31", "company_ac_number": 1, "counterparty_ac_number": 2,
}  # fmt: skip


def _read(table: str, *lines: str, block_bytes: int = 1 << 20):
    data = ("\n".join(lines) + "\n").encode()
    source = SOURCE_TABLES[table]
    chunks = list(iter_chunks(io.BytesIO(data), source, run_seq=3, source_key="k", block_bytes=block_bytes))
    return ObjectRows.from_chunks(chunks, source)


def test_payment_fact_splits_timestamps_keeps_money_exact_and_drops_account_numbers() -> None:
    rows = _read("payment", json.dumps(PAYMENT)).rows

    fact = build_fact_payment(rows)

    assert fact.to_pylist() == [
        {"payment_id": 1, "created_date": dt.date(2024, 5, 6), "created_time": dt.time(7, 8, 9, 10000),
         "last_updated_date": dt.date(2024, 5, 7), "last_updated_time": dt.time(0, 0), "transaction_id": 2,
         "counterparty_id": 3, "payment_amount": Decimal("10.10"), "currency_id": 1, "payment_type_id": 4,
         "paid": True, "payment_date": dt.date(2024, 5, 31)}
    ]  # fmt: skip
    assert sorted(referenced_dates(fact, "fact_payment").to_pylist()) == [
        dt.date(2024, 5, 6), dt.date(2024, 5, 7), dt.date(2024, 5, 31)
    ]  # fmt: skip


def test_reader_rejects_each_kind_of_bad_line_with_its_reason_and_line_number() -> None:
    lines = [
        json.dumps(PAYMENT),
        "not json",
        json.dumps({**PAYMENT, "payment_id": 3, "paid": "yes"}),
        json.dumps({**PAYMENT, "payment_id": 4, "payment_date": "31/05/2024"}),
        json.dumps({**PAYMENT, "payment_id": 5, "currency_id": 2**40}),
        json.dumps({**PAYMENT, "payment_id": 6, "payment_amount": "123456789.00"}),
        "",
        json.dumps({**PAYMENT, "payment_id": 8}),
    ]
    got = _read("payment", *lines)

    assert got.rows.column("payment_id").to_pylist() == [1, 8]
    assert got.rows.column("_line_no").to_pylist() == [1, 8]
    reasons = {b.line_no: (b.primary_key, b.reason) for b in got.bad}
    assert reasons[2][0] is None
    assert reasons[2][1].startswith("malformed JSON line")
    assert reasons[3] == (3, "wrong type: paid must be a JSON boolean, got str")
    assert reasons[4] == (4, "unparseable date: payment_date")
    assert reasons[5] == (5, "integer out of range: currency_id")
    assert reasons[6] == (6, "not a numeric(10,2): payment_amount")
    assert set(reasons) == {2, 3, 4, 5, 6}
    assert got.raw_line(4) == lines[3]


def test_line_numbers_continue_across_blocks() -> None:
    lines = [json.dumps({**PAYMENT, "payment_id": i}) for i in range(1, 41)]
    lines[29] = json.dumps({**PAYMENT, "payment_id": 30, "payment_date": "2024-02-30"})
    got = _read("payment", *lines, block_bytes=1000)  # several blocks
    assert len(got.chunks) > 3
    assert [(b.line_no, b.primary_key) for b in got.bad] == [(30, 30)]
    assert got.rows.column("_line_no").to_pylist() == [i for i in range(1, 41) if i != 30]


def test_iter_blocks_cuts_at_line_ends_and_keeps_a_last_unterminated_line() -> None:
    blocks = list(iter_blocks(io.BytesIO(b"aa\nbbbb\ncc"), block_bytes=4))
    assert blocks == [(1, b"aa\n"), (2, b"bbbb\n"), (3, b"cc\n")]


def test_foreign_key_checks_name_the_column_and_parent() -> None:
    rows = _read("payment", json.dumps(PAYMENT), json.dumps({**PAYMENT, "payment_id": 2, "transaction_id": 99})).rows
    ids = KnownIds.of(pa.array([1, 2, 3, 4], pa.int32()))
    known = dict.fromkeys(("transaction", "counterparty", "currency", "payment_type"), ids)
    good, bad_index, reasons = split_rejected(rows, foreign_key_checks(rows, "payment", known))
    assert good.column("payment_id").to_pylist() == [1]
    assert bad_index == [1]
    assert reasons == ["foreign key matches nothing: transaction_id -> transaction"]


@pytest.mark.parametrize("id_type", [pa.int32(), pa.int64()])
def test_known_ids_answer_as_is_in_does(id_type: pa.DataType) -> None:
    # Unsorted keys, gaps, ids below, between and above them, nulls, several chunks.
    keys = pa.array([9, 3, 1, 7, 100, 50], id_type)
    values = pa.chunked_array([pa.array([1, 2, None, 100, 101], id_type), pa.array([0, 50, 49, None, 9, -5], id_type)])
    expected = pc.is_in(values, value_set=keys).combine_chunks()
    got = KnownIds.of(keys).contains(values)
    assert got.null_count == 0
    assert got.to_pylist() == expected.to_pylist()
    assert KnownIds.of(pa.array([], id_type)).contains(values).to_pylist() == [False] * len(values)


def test_dim_date_iso_weekday_names_and_quarter() -> None:
    out = build_dim_date(pa.array([dt.date(2023, 10, 1), dt.date(2024, 2, 29), dt.date(2023, 10, 1)]))
    assert out.to_pylist() == [
        {"date_id": dt.date(2023, 10, 1), "year": 2023, "month": 10, "day": 1, "day_of_week": 7,
         "day_name": "Sunday", "month_name": "October", "quarter": 4},
        {"date_id": dt.date(2024, 2, 29), "year": 2024, "month": 2, "day": 29, "day_of_week": 4,
         "day_name": "Thursday", "month_name": "February", "quarter": 1},
    ]  # fmt: skip


def test_snapshot_keeps_latest_version_and_upserts() -> None:
    def dept(pk: int, name: str, updated: str) -> str:
        return json.dumps({"department_id": pk, "department_name": name, "location": None, "manager": None,
                           "created_at": "2024-01-01T00:00:00.000", "last_updated": updated})  # fmt: skip

    run1 = _read("department", dept(1, "a", "2024-01-01T00:00:00.000"), dept(2, "b", "2024-01-01T00:00:00.000")).rows
    state = apply_changes(empty_state("department"), latest_per_key(run1, "department_id"), "department_id")
    run2 = _read(
        "department",
        dept(2, "b-late", "2024-01-03T00:00:00.000"),
        dept(2, "b-old", "2024-01-02T00:00:00.000"),
        dept(3, "c", "2024-01-02T00:00:00.000"),
    ).rows
    state = apply_changes(state, latest_per_key(run2, "department_id"), "department_id")
    assert [(r["department_id"], r["department_name"]) for r in state.to_pylist()] == [
        (1, "a"),
        (2, "b-late"),
        (3, "c"),
    ]
    assert "_line_no" not in state.column_names


def test_snapshot_upsert_appending_new_keys_or_merging_gives_one_sorted_row_per_key() -> None:
    def dept(i: int, name: str) -> str:
        ts = "2024-01-02T00:00:00.000"
        return json.dumps({"department_id": i, "department_name": name, "location": None, "manager": "M",
                           "created_at": ts, "last_updated": ts})  # fmt: skip

    def upsert(state: pa.Table, *lines: str) -> pa.Table:
        return apply_changes(state, latest_per_key(_read("department", *lines).rows, "department_id"), "department_id")

    def names(state: pa.Table) -> list[tuple[int, str]]:
        return [(r["department_id"], r["department_name"]) for r in state.to_pylist()]

    state = upsert(empty_state("department"), dept(5, "e"), dept(2, "b"))  # first load, any input order
    state = upsert(state, dept(7, "g"), dept(6, "f"))  # only keys above the state's: appended
    assert names(state) == [(2, "b"), (5, "e"), (6, "f"), (7, "g")]
    state = upsert(state, dept(1, "a"), dept(8, "h"))  # a key below the state's: merged
    state = upsert(state, dept(5, "e2"))  # an update: merged
    assert names(state) == [(1, "a"), (2, "b"), (5, "e2"), (6, "f"), (7, "g"), (8, "h")]
    for _ in range(40):  # many appends (a long catch-up) stay a handful of chunks
        state = upsert(state, dept(int(pc.max(state.column("department_id")).as_py()) + 1, "n"))
    assert state.column("department_id").num_chunks <= 33
    assert state.schema == empty_state("department").schema
