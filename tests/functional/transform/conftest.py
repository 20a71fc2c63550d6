"""Builders for transform's functional tests: ingest runs written exactly as the
docs/architecture.md contract says (gzipped JSONL objects + a manifest written
last), on moto buckets from the ``pipeline`` fixture."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import secrets
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from common.s3_store import LakeStore
from common.source_tables import SOURCE_TABLES
from lake.keys import run_key

TS = "2024-01-02T03:04:05.123"


def row(table: str, pk: int, **values: Any) -> dict[str, Any]:
    """A valid source row of ``table`` with sensible defaults, overridden by ``values``."""
    defaults: dict[str, dict[str, Any]] = {
        "address": {
            "address_line_1": f"{pk} High St",
            "address_line_2": None,
            "district": "Central",
            "city": "Leeds",
            "postal_code": "LS1 1AA",
            "country": "UK",
            "phone": "0113 000",
        },
        "counterparty": {
            "counterparty_legal_name": f"Buyer {pk}",
            "legal_address_id": 1,
            "commercial_contact": "Ann",
            "delivery_contact": "Bob",
        },
        "currency": {"currency_code": "GBP"},
        "department": {"department_name": f"Dept {pk}", "location": "Leeds", "manager": "Zed"},
        "design": {"design_name": f"Design {pk}", "file_location": "/d", "file_name": f"d{pk}.json"},
        "staff": {"first_name": "Jo", "last_name": f"Smith{pk}", "department_id": 1, "email_address": f"s{pk}@t.com"},
        "payment_type": {"payment_type_name": "SALES_RECEIPT"},
        "transaction": {"transaction_type": "SALE", "sales_order_id": pk, "purchase_order_id": None},
        "sales_order": {
            "design_id": 1,
            "staff_id": 1,
            "counterparty_id": 1,
            "units_sold": 10,
            "unit_price": "2.50",
            "currency_id": 1,
            "agreed_delivery_date": "2024-01-10",
            "agreed_payment_date": "2024-01-11",
            "agreed_delivery_location_id": 1,
        },
        "purchase_order": {
            "staff_id": 1,
            "counterparty_id": 1,
            "item_code": "ABC123",
            "item_quantity": 7,
            "item_unit_price": "12.34",
            "currency_id": 1,
            "agreed_delivery_date": "2024-02-01",
            "agreed_payment_date": "2024-02-02",
            "agreed_delivery_location_id": 1,
        },
        "payment": {
            "transaction_id": 1,
            "counterparty_id": 1,
            "payment_amount": "99.99",
            "currency_id": 1,
            "payment_type_id": 1,
            "paid": True,
            "payment_date": "2024-03-01",
            "company_ac_number": 12345678,
            "counterparty_ac_number": 87654321,
        },
    }
    doc = {f"{table}_id": pk, "created_at": TS, "last_updated": TS, **defaults[table]}
    doc.update(values)
    assert set(doc) == set(SOURCE_TABLES[table].column_names), table
    return doc


def base_rows() -> dict[str, list[dict[str, Any]]]:
    """One valid member of every dimension source, so facts' foreign keys resolve."""
    return {
        t: [row(t, 1)]
        for t in ("address", "counterparty", "currency", "department", "design", "staff", "payment_type", "transaction")
    }


@dataclass
class Lake:
    """The two buckets, and a writer of ingestion runs per the contract."""

    ingest: LakeStore
    processed: LakeStore

    # Test modules cannot import conftest (--import-mode=importlib): reach the builders here.
    row = staticmethod(row)
    base_rows = staticmethod(base_rows)

    def commit_ingest(
        self, seq: int, tables: dict[str, list[dict[str, Any] | str]], *, corrupt: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        """Write one ingestion run: an object per table with rows, then the manifest.

        A row given as ``str`` is written verbatim (for malformed lines). Tables in
        ``corrupt`` get a manifest sha256 that does not match their object.
        """
        attempt = secrets.token_hex(6)
        entries: dict[str, Any] = {}
        for name in SOURCE_TABLES:
            rows = tables.get(name, [])
            if not rows:
                entries[name] = {"key": None, "rows": 0, "sha256": None, "window_start": TS, "window_end": TS}
                continue
            lines = [r if isinstance(r, str) else json.dumps(r) for r in rows]
            body = gzip.compress(("\n".join(lines) + "\n").encode())
            key = f"data/{name}/2024-01-02/{seq:010d}-{attempt}.jsonl.gz"
            self.ingest.put_new(key, body)
            digest = hashlib.sha256(body).hexdigest()
            if name in corrupt:
                digest = hashlib.sha256(b"something else").hexdigest()
            entries[name] = {"key": key, "rows": len(rows), "sha256": digest, "window_start": TS, "window_end": TS}
        manifest = {
            "format": 1,
            "run_seq": seq,
            "attempt": attempt,
            "started_at": TS,
            "committed_at": TS,
            "previous_run_seq": seq - 1,
            "tables": entries,
            "watermarks": {},
            "recent_keys": None,
        }
        self.ingest.put_new_json(run_key(seq), manifest)
        return manifest

    def commit_record(self, seq: int) -> dict[str, Any]:
        return self.processed.get_json(run_key(seq))

    def output(self, seq: int, table: str) -> pa.Table | None:
        """The Parquet a transform commit record names for ``table`` (None if no rows)."""
        key = self.commit_record(seq)["tables"][table]["key"]
        return None if key is None else pq.read_table(io.BytesIO(self.processed.get_bytes(key)))

    def rows(self, seq: int, table: str) -> list[dict[str, Any]]:
        out = self.output(seq, table)
        return [] if out is None else out.to_pylist()

    def quarantined(self, seq: int, table: str) -> list[dict[str, Any]]:
        entry = self.commit_record(seq)["quarantine"].get(table)
        if entry is None:
            return []
        return [json.loads(x) for x in self.processed.get_bytes(entry["key"]).decode().splitlines()]


@pytest.fixture
def lake(pipeline) -> Lake:
    s3 = pipeline.aws.s3
    return Lake(LakeStore(pipeline.resources.ingest_bucket, s3), LakeStore(pipeline.resources.processed_bucket, s3))
