"""Pure checks of the load stage's contract handling: allow-list, commit records, Parquet schemas."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from common.warehouse_tables import DIMENSIONS, FACTS, LOAD_ORDER, TABLES, Kind
from lake.commit_record import CommitRecord
from lake.errors import CommitRecordError
from load.errors import ParquetSchemaError
from load.staging import StagedTable, check_parquet_schema, csv_chunks


def test_dimensions_come_before_facts() -> None:
    assert max(LOAD_ORDER.index(d) for d in (*DIMENSIONS, "dim_date")) < min(LOAD_ORDER.index(f) for f in FACTS)
    assert sorted(LOAD_ORDER) == sorted(TABLES)


@pytest.mark.parametrize("name", DIMENSIONS)
def test_placeholder_fills_every_not_null_column_of_a_dimension(name: str) -> None:
    table = TABLES[name]
    assert set(table.placeholder) == set(table.required) - {table.key}


def test_fact_references_point_at_dimensions() -> None:
    for name in FACTS:
        for column, dim in TABLES[name].references.items():
            assert TABLES[dim].kind is Kind.DIMENSION, (name, column)


def _record(**tables: object) -> dict[str, object]:
    return {"format": 1, "run_seq": 7, "attempt": "abc123", "tables": tables}


def test_commit_record_keeps_non_empty_tables_in_load_order() -> None:
    rec = CommitRecord.from_doc(
        _record(
            fact_sales_order={"key": "tables/fact_sales_order/0000000007-abc123.parquet", "rows": 3},
            dim_staff={"key": "tables/dim_staff/0000000007-abc123.parquet", "rows": 1},
            dim_design={"key": None, "rows": 0},
        ),
        7,
    )
    assert [o.table for o in rec.objects] == ["dim_staff", "fact_sales_order"]
    assert rec.key == "runs/0000000007.json"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({**_record(), "run_seq": 8}, "does not match"),
        ({**_record(), "format": 2}, "unsupported format"),
        (_record(fact_secret={"key": "tables/fact_secret/x.parquet", "rows": 1}), "allow-list"),
        (_record(dim_staff={"key": "../other/x.parquet", "rows": 1}), "outside tables/dim_staff/"),
        (_record(dim_staff={"key": "tables/dim_staff/x.parquet", "rows": -1}), "bad entry"),
        ([], "not a JSON object"),
    ],
)
def test_commit_record_is_checked_strictly(document: object, message: str) -> None:
    with pytest.raises(CommitRecordError, match=message):
        CommitRecord.from_doc(document, 7)


def test_schema_check_accepts_the_contract_and_large_strings() -> None:
    schema = TABLES["dim_staff"].schema
    check_parquet_schema(TABLES["dim_staff"], schema)
    reordered = pa.schema(
        [schema.field(i).with_type(pa.large_string()) if i else schema.field(i) for i in reversed(range(len(schema)))]
    )
    check_parquet_schema(TABLES["dim_staff"], reordered)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.remove(s.get_field_index("email_address")), "missing columns"),
        (lambda s: s.append(pa.field("staff_record_id", pa.int32())), "unexpected columns"),
        (lambda s: s.set(0, pa.field("staff_id", pa.int64())), "staff_id is int64"),
    ],
)
def test_schema_check_rejects_drift(change: object, message: str) -> None:
    with pytest.raises(ParquetSchemaError, match=message):
        check_parquet_schema(TABLES["dim_staff"], change(TABLES["dim_staff"].schema))  # type: ignore[operator]


def test_csv_chunks_render_nulls_unquoted_and_strings_quoted() -> None:
    table = TABLES["dim_transaction"]
    rows = [
        {"transaction_id": 1, "transaction_type": "SALE", "sales_order_id": None, "purchase_order_id": 4},
        {"transaction_id": 2, "transaction_type": "", "sales_order_id": 3, "purchase_order_id": None},
    ]
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), buf)
    buf.seek(0)
    staged = StagedTable(table=table, staging="stg")
    out = b"".join(csv_chunks(pq.ParquetFile(buf), staged, batch_rows=1))
    assert out == b'1,"SALE",,4\n2,"",3,\n'
    assert staged.rows == 2
    assert staged.null_counts == {"transaction_id": 0, "transaction_type": 0}
