"""The direct fact load (load.direct): COPY straight into the fact, constraints rebuilt, savepoint fallback."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pg8000.exceptions
import pg8000.native
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from common.s3_store import LakeStore
from common.warehouse_tables import TABLES
from load.direct import DirectLoad, load_fact_direct
from load.errors import ParquetSchemaError
from load.run import run_load
from load.upsert import BULK_MIN_ROWS

FACT = TABLES["fact_sales_order"]
# A producer whose schema marks every field nullable can write a NULL the warehouse refuses.
LOOSE = pa.schema([f.with_nullable(True) for f in FACT.schema])
CONSTRAINTS = (
    "SELECT conname, contype, convalidated, condeferrable FROM pg_constraint "
    "WHERE conrelid = 'public.fact_sales_order'::regclass ORDER BY conname"
)


def _orders(make: Any, n: int, start: int = 1, extra: list[dict[str, Any]] | None = None) -> bytes:
    """``n`` sales-order versions with ids ``start..``, then ``extra`` rows, as Parquet bytes."""
    template = make.sales_order(0)
    columns = {name: [value] * n for name, value in template.items()}
    columns["sales_order_id"] = list(range(start, start + n))
    table = pa.Table.from_pydict(columns, schema=LOOSE)
    if extra:
        table = pa.concat_tables([table, pa.Table.from_pylist(extra, schema=LOOSE)])
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def _direct(con: pg8000.native.Connection, body: bytes, seq: int) -> DirectLoad | None:
    """One direct load inside an open transaction (the caller commits or rolls back)."""
    return load_fact_direct(con, FACT, io.BytesIO(body), seq)


def _load_one_version(runs: Any, make: Any, processed: LakeStore, con: Any) -> None:
    runs.commit(1, {**make.base_dimensions(), "fact_sales_order": [make.sales_order(1)]})
    assert run_load(processed, con).runs_committed == 1


def test_a_bulk_run_is_copied_straight_into_the_fact_with_every_constraint_back(
    pipeline: Any, processed: LakeStore, runs: Any, make: Any, loader_con: Any
) -> None:
    admin = pipeline.warehouse.admin
    before = admin.run(CONSTRAINTS)
    assert len(before) == 11  # PK, version UNIQUE, 9 foreign keys
    far = dt.date(2031, 7, 4)
    extra = [make.sales_order(BULK_MIN_ROWS + 1, design_id=777, agreed_delivery_date=far)]
    runs.commit(1, make.base_dimensions(), raw={"fact_sales_order": _orders(make, BULK_MIN_ROWS, extra=extra)})
    result = run_load(processed, loader_con).runs[0]
    assert result.loaded["fact_sales_order"] == BULK_MIN_ROWS + 1
    assert result.inferred_members == 1  # design 777 never arrived
    assert admin.run(CONSTRAINTS) == before  # same names, all validated, none deferrable
    assert admin.run("SELECT count(*), count(DISTINCT sales_record_id), sum(units_sold) FROM fact_sales_order") == [
        [BULK_MIN_ROWS + 1, BULK_MIN_ROWS + 1, 10 * (BULK_MIN_ROWS + 1)]
    ]
    assert admin.run("SELECT day_name FROM dim_date WHERE date_id = :d", d=far) == [["Friday"]]
    assert admin.run("SELECT design_name FROM dim_design WHERE design_id = 777") == [["Unknown (inferred)"]]
    # The rebuilt constraints are enforced: a stored version and an orphan are refused.
    cols = ", ".join(FACT.column_names)
    with pytest.raises(pg8000.exceptions.DatabaseError, match="fact_sales_order_version_uq"):
        admin.run(f"INSERT INTO fact_sales_order ({cols}) SELECT {cols} FROM fact_sales_order LIMIT 1")
    with pytest.raises(pg8000.exceptions.DatabaseError, match="fact_sales_order_design_id_fkey"):
        admin.run("UPDATE fact_sales_order SET design_id = 999 WHERE sales_order_id = 1")
    # The current-state view still answers from the rebuilt index.
    assert admin.run("SELECT count(*) FROM pipeline.fact_sales_order_current")[0][0] == BULK_MIN_ROWS + 1


def test_direct_path_rebuilds_indexes_on_a_small_table_and_falls_back_on_a_stored_version(
    pipeline: Any, processed: LakeStore, runs: Any, make: Any, loader_con: Any
) -> None:
    _load_one_version(runs, make, processed, loader_con)
    before = loader_con.run(CONSTRAINTS)
    loader_con.run("BEGIN")
    # 1 row stored, 3 in the batch: the indexes are dropped, and the rebuild finds version 1 twice.
    assert _direct(loader_con, _orders(make, 3, start=1), 2) is None
    assert loader_con.run(CONSTRAINTS) == before  # the savepoint brought every constraint back
    assert loader_con.run("SELECT count(*) FROM fact_sales_order") == [[1]]
    loader_con.run("ROLLBACK")


def test_direct_path_falls_back_on_a_version_twice_in_the_batch(
    pipeline: Any, processed: LakeStore, runs: Any, make: Any, loader_con: Any
) -> None:
    runs.commit(1, make.base_dimensions())
    run_load(processed, loader_con)
    loader_con.run("BEGIN")
    assert _direct(loader_con, _orders(make, 2, start=5, extra=[make.sales_order(5)]), 2) is None
    assert loader_con.run("SELECT count(*) FROM fact_sales_order") == [[0]]
    done = _direct(loader_con, _orders(make, 2, start=5), 2)
    assert done is not None
    assert (done.inserted, done.indexes_rebuilt, done.binary) == (2, True, True)
    loader_con.run("COMMIT")


def test_direct_path_keeps_the_indexes_on_a_big_table_and_falls_back_on_a_stored_version(
    pipeline: Any, processed: LakeStore, runs: Any, make: Any, loader_con: Any
) -> None:
    runs.commit(1, make.base_dimensions(), raw={"fact_sales_order": _orders(make, 20)})
    run_load(processed, loader_con)
    admin = pipeline.warehouse.admin
    admin.run("ANALYZE fact_sales_order")  # the strategy reads the planner's row count
    before = admin.run(CONSTRAINTS)
    loader_con.run("BEGIN")
    # 20 stored, 3 in the batch: the indexes stay, so the COPY itself hits the stored version 20.
    assert _direct(loader_con, _orders(make, 3, start=20), 2) is None
    done = _direct(loader_con, _orders(make, 3, start=21), 2)
    assert done is not None
    assert (done.inserted, done.indexes_rebuilt) == (3, False)
    loader_con.run("COMMIT")
    assert admin.run(CONSTRAINTS) == before
    assert admin.run("SELECT count(*) FROM fact_sales_order") == [[23]]
    # Surrogate keys are reserved per batch: the failed attempt's block (21-23) is a gap,
    # like nextval() after a rollback, and the sequence carries on after the last block.
    assert admin.run("SELECT sales_record_id FROM fact_sales_order WHERE sales_order_id > 20 ORDER BY 1") == [
        [24],
        [25],
        [26],
    ]
    assert admin.run("SELECT nextval(pg_get_serial_sequence('fact_sales_order', 'sales_record_id'))") == [[27]]


def test_a_bulk_run_replaying_a_stored_version_loads_the_rest_once(
    pipeline: Any, processed: LakeStore, runs: Any, make: Any, loader_con: Any
) -> None:
    """run_load end to end: the direct attempt collides, the staging path skips the stored version."""
    _load_one_version(runs, make, processed, loader_con)
    runs.commit(2, raw={"fact_sales_order": _orders(make, BULK_MIN_ROWS, start=1)})
    result = run_load(processed, loader_con).runs[0]
    assert result.loaded["fact_sales_order"] == BULK_MIN_ROWS - 1
    admin = pipeline.warehouse.admin
    assert admin.run("SELECT count(*), count(DISTINCT sales_order_id) FROM fact_sales_order") == [
        [BULK_MIN_ROWS, BULK_MIN_ROWS]
    ]
    assert len(admin.run(CONSTRAINTS)) == 11


def test_a_bulk_run_with_a_null_falls_back_and_quarantines_it(
    pipeline: Any, processed: LakeStore, runs: Any, make: Any, loader_con: Any
) -> None:
    body = _orders(make, BULK_MIN_ROWS, extra=[make.sales_order(BULK_MIN_ROWS + 1, units_sold=None)])
    runs.commit(1, make.base_dimensions(), raw={"fact_sales_order": body})
    result = run_load(processed, loader_con).runs[0]
    assert (result.loaded["fact_sales_order"], result.rows_quarantined) == (BULK_MIN_ROWS, 1)
    admin = pipeline.warehouse.admin
    assert admin.run("SELECT row_data->>'sales_order_id' FROM pipeline.load_quarantine") == [[str(BULK_MIN_ROWS + 1)]]


def test_a_null_in_a_later_batch_leaves_no_partial_rows(
    pipeline: Any, processed: LakeStore, runs: Any, make: Any, loader_con: Any
) -> None:
    """The binary stream is cut after rows were sent: the COPY must fail, not keep them."""
    runs.commit(1, make.base_dimensions())
    run_load(processed, loader_con)
    body = _orders(make, 5, extra=[make.sales_order(6, unit_price=None)])
    loader_con.run("BEGIN")
    assert load_fact_direct(loader_con, FACT, io.BytesIO(body), 2, batch_rows=2) is None
    assert loader_con.run("SELECT count(*) FROM fact_sales_order") == [[0]]
    loader_con.run("ROLLBACK")


def test_a_read_failure_during_the_direct_copy_is_a_schema_error(
    pipeline: Any, processed: LakeStore, runs: Any, make: Any, loader_con: Any
) -> None:
    runs.commit(1, make.base_dimensions())
    run_load(processed, loader_con)
    buf = io.BytesIO()
    pq.write_table(
        pa.Table.from_pylist([make.sales_order(i) for i in range(1, 101)], schema=FACT.schema), buf, row_group_size=10
    )
    data = bytearray(buf.getvalue())
    # Corrupt the last row group's pages: the footer reads, the first batches stream, then decoding fails.
    meta = pq.ParquetFile(io.BytesIO(bytes(data))).metadata
    last = meta.row_group(meta.num_row_groups - 1).column(0)
    for i in range(last.data_page_offset, last.data_page_offset + 16):
        data[i] ^= 0xFF
    loader_con.run("BEGIN")
    with pytest.raises(ParquetSchemaError, match="reading the Parquet failed during COPY"):
        load_fact_direct(loader_con, FACT, io.BytesIO(bytes(data)), 2, batch_rows=10)
    loader_con.run("ROLLBACK")
    assert loader_con.run("SELECT count(*) FROM fact_sales_order") == [[0]]


@pytest.mark.parametrize(("fact", "binary"), [("fact_purchase_order", False), ("fact_payment", True)])
def test_the_other_facts_load_directly_in_their_format(
    pipeline: Any, processed: LakeStore, runs: Any, make: Any, loader_con: Any, fact: str, binary: bool
) -> None:
    """fact_purchase_order has a text column, so it goes as CSV (with its serial default); fact_payment as binary."""
    runs.commit(1, make.base_dimensions())
    run_load(processed, loader_con)
    build = make.purchase_order if fact == "fact_purchase_order" else make.payment
    body = make.parquet_bytes(fact, [build(1), build(2, transaction_id=9)])
    loader_con.run("BEGIN")
    done = load_fact_direct(loader_con, TABLES[fact], io.BytesIO(body), 2)
    loader_con.run("COMMIT")
    assert done is not None
    assert (done.inserted, done.binary) == (2, binary)
    admin = pipeline.warehouse.admin
    assert admin.run(f"SELECT count(*), min({TABLES[fact].surrogate_key}) FROM {fact}") == [[2, 1]]
    # fact_payment references dim_transaction 9, which never arrived: inferred, FK valid.
    assert len(admin.run("SELECT 1 FROM dim_transaction WHERE transaction_id = 9")) == (
        1 if fact == "fact_payment" else 0
    )
