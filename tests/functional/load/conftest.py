"""A builder of processed-bucket runs for the load tests, written straight to the contract
(docs/architecture.md, "Processed bucket layout"): one Parquet per warehouse table with
the exact Arrow schema, then the commit record ``runs/<seq:010d>.json`` last.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import secrets
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pg8000.native
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from common.s3_store import LakeStore
from common.warehouse_tables import TABLES


def staff(staff_id: int, first_name: str = "Jane", **kw: Any) -> dict[str, Any]:
    row = {
        "staff_id": staff_id,
        "first_name": first_name,
        "last_name": "Doe",
        "department_name": "Sales",
        "location": "Leeds",
        "email_address": f"s{staff_id}@terrifictotes.com",
    }
    return {**row, **kw}


def location(location_id: int, **kw: Any) -> dict[str, Any]:
    row = {
        "location_id": location_id,
        "address_line_1": f"{location_id} High St",
        "address_line_2": None,
        "district": None,
        "city": "Leeds",
        "postal_code": "LS1 1AA",
        "country": "UK",
        "phone": "0113 000",
    }
    return {**row, **kw}


def counterparty(counterparty_id: int, **kw: Any) -> dict[str, Any]:
    row = {
        "counterparty_id": counterparty_id,
        "counterparty_legal_name": f"Client {counterparty_id}",
        "counterparty_legal_address_line_1": "1 Road",
        "counterparty_legal_address_line_2": None,
        "counterparty_legal_district": None,
        "counterparty_legal_city": "York",
        "counterparty_legal_postal_code": "YO1",
        "counterparty_legal_country": "UK",
        "counterparty_legal_phone_number": "01904",
    }
    return {**row, **kw}


def currency(currency_id: int, code: str = "GBP", name: str = "Pound Sterling") -> dict[str, Any]:
    return {"currency_id": currency_id, "currency_code": code, "currency_name": name}


def design(design_id: int, name: str = "Wooden", **kw: Any) -> dict[str, Any]:
    row = {"design_id": design_id, "design_name": name, "file_location": "/usr", "file_name": f"d{design_id}.json"}
    return {**row, **kw}


def payment_type(payment_type_id: int, name: str = "SALES_RECEIPT") -> dict[str, Any]:
    return {"payment_type_id": payment_type_id, "payment_type_name": name}


def transaction(transaction_id: int, sales_order_id: int | None = None) -> dict[str, Any]:
    return {
        "transaction_id": transaction_id,
        "transaction_type": "SALE",
        "sales_order_id": sales_order_id,
        "purchase_order_id": None,
    }


def _times(created: dt.datetime, updated: dt.datetime) -> dict[str, Any]:
    return {
        "created_date": created.date(),
        "created_time": created.time(),
        "last_updated_date": updated.date(),
        "last_updated_time": updated.time(),
    }


T0 = dt.datetime(2024, 1, 1, 9, 30, 0, 123000)  # a Monday


def sales_order(sales_order_id: int, updated: dt.datetime = T0, units_sold: int = 10, **kw: Any) -> dict[str, Any]:
    row = {
        "sales_order_id": sales_order_id,
        **_times(T0, updated),
        "sales_staff_id": 1,
        "counterparty_id": 1,
        "units_sold": units_sold,
        "unit_price": Decimal("2.50"),
        "currency_id": 1,
        "design_id": 1,
        "agreed_payment_date": dt.date(2024, 2, 29),
        "agreed_delivery_date": dt.date(2024, 3, 31),
        "agreed_delivery_location_id": 1,
    }
    return {**row, **kw}


def purchase_order(purchase_order_id: int, updated: dt.datetime = T0, **kw: Any) -> dict[str, Any]:
    row = {
        "purchase_order_id": purchase_order_id,
        **_times(T0, updated),
        "staff_id": 1,
        "counterparty_id": 1,
        "item_code": "ZDOI5EA",
        "item_quantity": 5,
        "item_unit_price": Decimal("99.99"),
        "currency_id": 1,
        "agreed_delivery_date": dt.date(2024, 4, 1),
        "agreed_payment_date": dt.date(2024, 4, 2),
        "agreed_delivery_location_id": 1,
    }
    return {**row, **kw}


def payment(payment_id: int, updated: dt.datetime = T0, **kw: Any) -> dict[str, Any]:
    row = {
        "payment_id": payment_id,
        **_times(T0, updated),
        "transaction_id": 1,
        "counterparty_id": 1,
        "payment_amount": Decimal("1234.56"),
        "currency_id": 1,
        "payment_type_id": 1,
        "paid": False,
        "payment_date": dt.date(2024, 5, 1),
    }
    return {**row, **kw}


def base_dimensions() -> dict[str, list[dict[str, Any]]]:
    """One member of every dimension the default fact rows reference (id 1)."""
    return {
        "dim_staff": [staff(1)],
        "dim_location": [location(1)],
        "dim_counterparty": [counterparty(1)],
        "dim_currency": [currency(1)],
        "dim_design": [design(1)],
        "dim_payment_type": [payment_type(1)],
        "dim_transaction": [transaction(1, sales_order_id=1)],
    }


def parquet_bytes(table: str, rows: list[dict[str, Any]], schema: pa.Schema | None = None) -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=schema or TABLES[table].schema), buf)
    return buf.getvalue()


class ProcessedRuns:
    """Writes processed runs into a bucket the way transform does."""

    def __init__(self, store: LakeStore) -> None:
        self.store = store

    def commit(
        self,
        seq: int,
        tables: dict[str, list[dict[str, Any]]] | None = None,
        raw: dict[str, bytes] | None = None,
        deletions: dict[str, dict[str, Any]] | None = None,
    ) -> str:
        """Write the Parquet of each table (``raw`` = bytes as given), then the commit record."""
        attempt = secrets.token_hex(6)
        entries: dict[str, Any] = {name: {"key": None, "rows": 0} for name in TABLES}
        for name, rows in (tables or {}).items():
            key = f"tables/{name}/{seq:010d}-{attempt}.parquet"
            self.store.put_new(key, parquet_bytes(name, rows))
            entries[name] = {"key": key, "rows": len(rows)}
        for name, body in (raw or {}).items():
            key = f"tables/{name}/{seq:010d}-{attempt}.parquet"
            self.store.put_new(key, body)
            entries[name] = {"key": key, "rows": pq.read_metadata(io.BytesIO(body)).num_rows}
        record = {
            "format": 1,
            "run_seq": seq,
            "attempt": attempt,
            "ingest_manifest": f"runs/{seq:010d}.json",
            "tables": entries,
            "snapshots": {},
            "quarantine": {},
            "committed_at": dt.datetime.now(dt.UTC).isoformat(),
            **({"deletions": deletions} if deletions else {}),
        }
        key = f"runs/{seq:010d}.json"
        self.store.put_new_json(key, record)
        return key


@pytest.fixture
def processed(pipeline: Any) -> LakeStore:
    return LakeStore(pipeline.resources.processed_bucket, pipeline.aws.s3)


@pytest.fixture
def runs(processed: LakeStore) -> ProcessedRuns:
    return ProcessedRuns(processed)


@pytest.fixture
def loader_con(pipeline: Any) -> Iterator[pg8000.native.Connection]:
    con = pipeline.warehouse.connect()
    yield con
    with contextlib.suppress(Exception):  # a test may have killed it on purpose
        con.close()


def s3_event(bucket: str, key: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": bucket}, "object": {"key": key}},
            }
        ]
    }


@pytest.fixture
def make() -> Any:
    """The row builders above (``make.staff(1)``, ``make.sales_order(7, units_sold=3)``, ...).

    A fixture because with --import-mode=importlib test files cannot import conftest.
    """
    import sys

    return sys.modules[__name__]
