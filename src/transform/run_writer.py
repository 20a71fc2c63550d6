"""Writing one transformed run: its Parquet per warehouse table, new snapshots, quarantine; the commit record.

Every object is created with ``put_new`` under this attempt's id, one at a time in load
order: the crash-point fault tests (and a human reading a crashed attempt's orphans)
rely on "the first k objects were written". The commit record is built here and
written last by the caller (``run_transform``), so a crash anywhere leaves only orphans.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pyarrow as pa

from common.s3_store import LakeStore
from common.timefmt import utc_stamp
from common.warehouse_tables import LOAD_ORDER
from lake.changes import Deletions
from lake.commit_record import CommitRecord, ObjectRef
from lake.keys import snapshot_key, table_key
from lake.manifest import IngestManifest
from transform.dimension_plan import SNAPSHOT_TABLES
from transform.fact_files import FactFiles
from transform.facts import FACT_FEEDS
from transform.rejects import QuarantineLog, write_quarantine
from transform.snapshot import PARQUET_CONTENT_TYPE, State, write_parquet


def write_run(
    processed: LakeStore,
    manifest: IngestManifest,
    attempt: str,
    *,
    outputs: dict[str, pa.Table],
    facts: FactFiles,
    state: State,
    changed: set[str],
    quarantine: QuarantineLog,
    started: float,
    fx_rates: ObjectRef | None = None,
) -> CommitRecord:
    """Write every object of the run; return its commit record (not written: the caller commits).

    ``outputs`` are the dimension tables (dim_date too); ``facts`` the fact files in the
    work folder; ``changed`` the snapshot tables this run changed (``state.keys`` gets their new keys);
    ``fx_rates`` the exchange-rate Parquet already written (``transform.fx_rates``), for a rates run.
    """
    seq = manifest.run_seq
    tables: dict[str, ObjectRef] = {}
    for name in LOAD_ORDER:
        key = table_key(name, seq, attempt)
        if name in facts.files:
            path, n = facts.files.pop(name)
            with open(path, "rb") as body:
                processed.put_new(key, body, content_type=PARQUET_CONTENT_TYPE)
        elif name in outputs and outputs[name].num_rows:
            n = outputs[name].num_rows
            write_parquet(processed, key, outputs[name])
        else:
            n = 0
        tables[name] = ObjectRef(key if n else None, n)
    for table in sorted(changed):
        key = snapshot_key(table, seq, attempt)
        write_parquet(processed, key, state.tables[table])
        state.keys[table] = key
    return CommitRecord(
        run_seq=seq,
        attempt=attempt,
        ingest_manifest=manifest.key,
        tables=tables,
        snapshots={t: state.keys.get(t) for t in SNAPSHOT_TABLES},
        quarantine=write_quarantine(processed, quarantine, attempt),
        rows_quarantined=quarantine.count(),
        duration_ms=round((time.perf_counter() - started) * 1000),
        committed_at=utc_stamp(datetime.now(UTC)),
        deletions=fact_deletions(manifest),
        fx_rates=fx_rates,
    )


def fact_deletions(manifest: IngestManifest) -> dict[str, Deletions]:
    """The fact sources' rows a comparison found deleted, by fact (a deleted dimension member stays: SPEC §2)."""
    return {
        FACT_FEEDS[table].fact: Deletions(found.observed_at, found.deleted)
        for table, found in manifest.changes.items()
        if table in FACT_FEEDS and found.deleted
    }
