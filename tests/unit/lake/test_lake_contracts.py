"""The lake contracts: every key's builder and parser agree, and the two commit documents
read back what they write, byte for byte the documents already in the lake."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from common.timefmt import utc_stamp
from lake.commit_record import CommitRecord, ObjectRef
from lake.errors import CommitRecordError, ManifestError
from lake.keys import (
    KeyKind,
    LakeKey,
    data_key,
    parse_key,
    quarantine_key,
    recent_keys_key,
    run_key,
    seq_from_key,
    snapshot_key,
    table_key,
)
from lake.manifest import IngestManifest, SnapshotCursor, TableEntry

ATTEMPT = "3f2a9c0d1b7e"


@pytest.mark.parametrize(
    ("key", "parsed"),
    [
        (run_key(42), LakeKey(KeyKind.RUN, 42)),
        (
            data_key("sales_order", 42, ATTEMPT, datetime(2026, 11, 22, 10)),
            LakeKey(KeyKind.DATA, 42, "sales_order", ATTEMPT, date(2026, 11, 22)),
        ),
        (recent_keys_key(42, ATTEMPT), LakeKey(KeyKind.RECENT_KEYS, 42, None, ATTEMPT)),
        (table_key("fact_sales_order", 42, ATTEMPT), LakeKey(KeyKind.TABLE, 42, "fact_sales_order", ATTEMPT)),
        (snapshot_key("payment_type", 42, ATTEMPT), LakeKey(KeyKind.SNAPSHOT, 42, "payment_type", ATTEMPT)),
        (quarantine_key(42, "sales_order", ATTEMPT), LakeKey(KeyKind.QUARANTINE, 42, "sales_order", ATTEMPT)),
    ],
)
def test_every_key_parses_back_to_what_built_it(key: str, parsed: LakeKey) -> None:
    assert parse_key(key) == parsed
    assert parse_key(key, parsed.kind) == parsed
    other = KeyKind.RUN if parsed.kind is not KeyKind.RUN else KeyKind.DATA
    assert parse_key(key, other) is None


def test_keys_follow_the_documented_layout() -> None:
    assert run_key(42) == "runs/0000000042.json"
    assert table_key("dim_staff", 7, ATTEMPT) == "tables/dim_staff/0000000007-3f2a9c0d1b7e.parquet"
    assert snapshot_key("staff", 7, ATTEMPT) == "snapshot/staff/0000000007-3f2a9c0d1b7e.parquet"
    assert quarantine_key(7, "staff", ATTEMPT) == "quarantine/0000000007/staff-3f2a9c0d1b7e.jsonl"
    assert seq_from_key("runs/0000000042.json") == 42
    assert seq_from_key("runs/42.json") is None
    assert parse_key("data/sales_order/x.jsonl.gz") is None
    with pytest.raises(ValueError, match="start at 1"):
        run_key(0)


def _stored(doc: object) -> bytes:
    """How ``LakeStore.put_new_json`` serialises a document."""
    return json.dumps(doc, indent=1, sort_keys=True, default=str).encode()


def test_manifest_document_is_the_one_in_the_lake() -> None:
    lake_doc = {
        "format": 1,
        "run_seq": 42,
        "attempt": ATTEMPT,
        "started_at": "2026-11-22T10:00:00.000Z",
        "committed_at": "2026-11-22T10:00:03.412Z",
        "previous_run_seq": 41,
        "tables": {
            "sales_order": {
                "key": "data/sales_order/2026-11-22/0000000042-3f2a9c0d1b7e.jsonl.gz",
                "rows": 120,
                "window_start": "2026-11-22T09:40:00.000",
                "window_end": "2026-11-22T10:00:00.000",
                "sha256": "ab" * 32,
            },
            "address": {"key": None, "rows": 0, "window_start": None, "window_end": "x", "sha256": None},
        },
        "watermarks": {"sales_order": "2026-11-22T10:00:00.000", "address": "2026-11-22T10:00:00.000"},
        "recent_keys": recent_keys_key(42, ATTEMPT),
        "future_rows": {"sales_order": {"rows": 1, "keys": [[7, "2099-01-01T00:00:00.000"]]}},
    }
    manifest = IngestManifest.from_doc(json.loads(_stored(lake_doc)), 42)
    assert manifest.tables["sales_order"] == TableEntry(
        lake_doc["tables"]["sales_order"]["key"], 120, "2026-11-22T09:40:00.000", "2026-11-22T10:00:00.000", "ab" * 32
    )
    assert _stored(manifest.to_doc()) == _stored(lake_doc)
    assert manifest.key == "runs/0000000042.json"


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"format": 2, "run_seq": 42, "tables": {}}, "unsupported format"),
        ({"format": 1, "run_seq": 7, "tables": {}}, "does not match its key"),
        ({"format": 1, "run_seq": 42, "tables": {"secrets": {}}}, "allow-list"),
        ({"format": 1, "run_seq": 42}, "malformed"),
        ([], "malformed"),
        ({"format": 1, "run_seq": 42, "tables": {}, "snapshot_cursors": ["payment"]}, "snapshot_cursors is a list"),
        ({"format": 1, "run_seq": 42, "tables": {}, "snapshot_cursors": {"secrets": {}}}, "allow-list"),
        ({"format": 1, "run_seq": 42, "tables": {}, "snapshot_cursors": {"payment": {"bound": "x"}}}, "malformed"),
        (
            {"format": 1, "run_seq": 42, "tables": {}, "snapshot_cursors": {"payment": {"bound": "x", "from_id": "7"}}},
            "integer from_id",
        ),
    ],
)
def test_a_manifest_breaking_the_contract_is_a_manifest_error(doc: object, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        IngestManifest.from_doc(doc, 42)


def test_snapshot_cursors_round_trip_and_are_absent_when_none() -> None:
    cursor = SnapshotCursor("2026-11-22T09:55:00.000", 4_000_001, rows=4_000_000, runs=1)
    manifest = IngestManifest(42, "3f2a9c0d1b7e", None, None, 41, {}, snapshot_cursors={"payment": cursor})
    doc = manifest.to_doc()
    assert doc["snapshot_cursors"] == {
        "payment": {"bound": "2026-11-22T09:55:00.000", "from_id": 4_000_001, "rows": 4_000_000, "runs": 1}
    }
    assert IngestManifest.from_doc(json.loads(json.dumps(doc)), 42).snapshot_cursors == {"payment": cursor}
    assert "snapshot_cursors" not in IngestManifest(42, "a", None, None, 41, {}).to_doc()


def test_commit_record_document_is_the_one_in_the_lake() -> None:
    lake_doc = {
        "format": 1,
        "run_seq": 42,
        "attempt": ATTEMPT,
        "ingest_manifest": "runs/0000000042.json",
        "tables": {
            "dim_staff": {"key": table_key("dim_staff", 42, ATTEMPT), "rows": 3},
            "fact_payment": {"key": None, "rows": 0},
        },
        "snapshots": {"staff": snapshot_key("staff", 42, ATTEMPT), "address": None},
        "quarantine": {"staff": {"key": quarantine_key(42, "staff", ATTEMPT), "rows": 1}},
        "rows_quarantined": 1,
        "duration_ms": 1234,
        "committed_at": "2026-11-22T10:00:03.412Z",
    }
    record = CommitRecord.from_doc(json.loads(_stored(lake_doc)), 42)
    assert record.tables["dim_staff"] == ObjectRef(table_key("dim_staff", 42, ATTEMPT), 3)
    assert [(o.table, o.rows) for o in record.objects] == [("dim_staff", 3)]
    assert _stored(record.to_doc()) == _stored(lake_doc)


def test_a_commit_record_without_snapshots_reads_as_none_not_empty() -> None:
    record = CommitRecord.from_doc({"format": 1, "run_seq": 3, "attempt": "a", "tables": {}}, 3)
    assert record.snapshots is None
    with pytest.raises(CommitRecordError, match="snapshots"):
        CommitRecord.from_doc({"format": 1, "run_seq": 3, "attempt": "a", "tables": {}, "snapshots": []}, 3)


def test_utc_stamp_is_milliseconds_truncated_with_a_z() -> None:
    moment = datetime(2026, 11, 22, 10, 0, 3, 412_999, tzinfo=UTC)
    assert utc_stamp(moment) == "2026-11-22T10:00:03.412Z"
    assert utc_stamp(moment.replace(tzinfo=None)) == "2026-11-22T10:00:03.412Z"
    assert utc_stamp(moment) == moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
