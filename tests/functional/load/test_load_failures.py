"""Crashes inside a run's transaction, concurrency, bulk mode and the handler, on the real stack."""

from __future__ import annotations

import json
import threading
from typing import Any

import pg8000.native
import pytest

from common.s3_store import LakeStore
from common.warehouse_tables import TABLES
from load.errors import WarehouseLoadError
from load.handler import lambda_handler
from load.lock import LOAD_LOCK_KEY
from load.run import LoadHooks, run_load
from load.staging import stage_parquet
from load.upsert import append_facts


def _counts(admin: pg8000.native.Connection) -> tuple[int, ...]:
    return tuple(
        admin.run(f"SELECT count(*) FROM {t}")[0][0]
        for t in ("dim_staff", "dim_date", "fact_sales_order", "pipeline.load_ledger", "pipeline.inferred_member")
    )


def _two_runs(runs: Any, make: Any) -> None:
    runs.commit(1, {**make.base_dimensions(), "fact_sales_order": [make.sales_order(1)]})
    runs.commit(
        2,
        {
            "dim_staff": [make.staff(2)],
            "fact_sales_order": [make.sales_order(2, sales_staff_id=2), make.sales_order(3, design_id=42)],
        },
    )


@pytest.mark.parametrize("hook_name", ["after_staging", "before_commit"])
def test_connection_killed_mid_run_leaves_nothing_and_retry_completes(
    pipeline: Any, processed: LakeStore, runs: Any, make: Any, hook_name: str
) -> None:
    _two_runs(runs, make)
    admin = pipeline.warehouse.admin
    con = pipeline.warehouse.connect()
    pid = con.run("SELECT pg_backend_pid()")[0][0]

    def kill(seq: int) -> None:
        if seq == 2:
            admin.run("SELECT pg_terminate_backend(:pid)", pid=pid)

    with pytest.raises(WarehouseLoadError, match="run 2 rolled back"):
        run_load(processed, con, hooks=LoadHooks(**{hook_name: kill}))
    # Run 1 committed before the failure; nothing of run 2 is visible (its staff, facts,
    # generated dates, inferred design 42 or ledger row).
    assert _counts(admin) == (1, 3, 1, 1, 0)
    retry = run_load(processed, pipeline.warehouse.connect())
    assert [r.run_seq for r in retry.runs] == [2]
    assert _counts(admin) == (2, 3, 3, 2, 1)


def test_exception_before_commit_rolls_back_and_retry_completes(
    pipeline: Any, processed: LakeStore, runs: Any, make: Any, loader_con: Any
) -> None:
    _two_runs(runs, make)

    def boom(seq: int) -> None:
        raise RuntimeError(f"injected failure in run {seq}")

    with pytest.raises(RuntimeError, match="injected failure in run 1"):
        run_load(processed, loader_con, hooks=LoadHooks(before_commit=boom))
    admin = pipeline.warehouse.admin
    assert _counts(admin) == (0, 0, 0, 0, 0)
    # The same connection is still usable and the lock was released.
    assert run_load(processed, loader_con).runs_committed == 2
    assert _counts(admin) == (2, 3, 3, 2, 1)


def test_concurrent_invocations_serialise(pipeline: Any, processed: LakeStore, runs: Any, make: Any) -> None:
    _two_runs(runs, make)
    admin = pipeline.warehouse.admin
    second_is_waiting = threading.Event()
    results: dict[str, Any] = {}

    def hold_until_other_waits(seq: int) -> None:
        # Keep run 1 open until the other loader is seen blocked on the load lock.
        if seq != 1:
            return
        for _ in range(6000):
            waiting = admin.run(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = :k",
                k=LOAD_LOCK_KEY,
            )[0][0]
            if waiting:
                second_is_waiting.set()
                return
            threading.Event().wait(0.01)

    def first() -> None:
        results["first"] = run_load(
            processed, pipeline.warehouse.connect(), hooks=LoadHooks(before_commit=hold_until_other_waits)
        )

    def second() -> None:
        results["second"] = run_load(processed, pipeline.warehouse.connect(), lock_wait_seconds=600)

    t1 = threading.Thread(target=first)
    t1.start()
    # Start the second loader only once the first holds the lock (its run 1 is staged).
    for _ in range(6000):
        if admin.run(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid = :k", k=LOAD_LOCK_KEY
        )[0][0]:
            break
        threading.Event().wait(0.01)
    t2 = threading.Thread(target=second)
    t2.start()
    t1.join()
    t2.join()
    assert second_is_waiting.is_set()
    assert [r.run_seq for r in results["first"].runs] == [1, 2]
    assert results["second"].runs == ()  # it waited, then found nothing pending
    assert _counts(admin) == (2, 3, 3, 2, 1)


def test_busy_lock_returns_without_loading(
    pipeline: Any, processed: LakeStore, runs: Any, make: Any, loader_con: Any
) -> None:
    _two_runs(runs, make)
    holder = pipeline.warehouse.connect()
    holder.run("SELECT pg_advisory_lock(:k)", k=LOAD_LOCK_KEY)
    result = run_load(processed, loader_con, lock_wait_seconds=0.2)
    assert result.lock_acquired is False
    assert result.runs == ()
    holder.close()
    assert run_load(processed, loader_con).runs_committed == 2


def _stage_and_append(con: pg8000.native.Connection, rows: list[dict[str, Any]], make: Any) -> int:
    import io

    con.run("BEGIN")
    staged = stage_parquet(con, TABLES["fact_sales_order"], io.BytesIO(make.parquet_bytes("fact_sales_order", rows)))
    inserted = append_facts(con, staged, bulk=True)
    con.run("COMMIT")
    return inserted


def test_bulk_mode_keeps_every_foreign_key_and_still_enforces_them(
    pipeline: Any, processed: LakeStore, runs: Any, make: Any, loader_con: Any
) -> None:
    runs.commit(1, {**make.base_dimensions(), "fact_sales_order": [make.sales_order(1)]})
    run_load(processed, loader_con)
    admin = pipeline.warehouse.admin
    fk_query = (
        "SELECT conname, convalidated FROM pg_constraint WHERE conrelid = 'fact_sales_order'::regclass "
        "AND contype = 'f' ORDER BY conname"
    )
    before = admin.run(fk_query)
    assert len(before) == 9
    # Already stored (1) is skipped by the anti-join; a version twice in the batch (4) makes
    # the fast path collide, and the ON CONFLICT fallback stores it once.
    assert _stage_and_append(loader_con, [make.sales_order(2), make.sales_order(1)], make) == 1
    assert _stage_and_append(loader_con, [make.sales_order(4), make.sales_order(4), make.sales_order(1)], make) == 1
    assert admin.run(fk_query) == before
    # An orphan reference fails the re-validation, and the whole transaction rolls back.
    with pytest.raises(pg8000.exceptions.DatabaseError, match="foreign key"):
        _stage_and_append(loader_con, [make.sales_order(3, design_id=777)], make)
    loader_con.run("ROLLBACK")
    assert admin.run(fk_query) == before
    assert admin.run("SELECT count(*) FROM fact_sales_order")[0][0] == 3


def test_handler_loads_from_an_s3_event_and_ignores_what_it_names(
    pipeline: Any, runs: Any, make: Any, emitted_metrics: Any
) -> None:
    _two_runs(runs, make)
    bucket = pipeline.resources.processed_bucket
    # The event names run 2 only; the loader still applies 1 then 2.
    event = {"Records": [{"s3": {"bucket": {"name": bucket}, "object": {"key": "runs/0000000002.json"}}}]}
    summary = lambda_handler(event, None)
    assert summary["run_seqs"] == [1, 2]
    assert summary["inferred_members"] == 1
    assert lambda_handler({}, None)["runs_committed"] == 0  # the scheduled sweep: nothing pending
    emf = emitted_metrics()
    first = emf[0]
    assert first["service"] == "load"
    assert sorted(first["RunsCommitted"]) == [0, 1, 1]
    assert first["InferredMembers"] == [0, 1]
    assert "ChangeToLoadLagSeconds" in first


def test_handler_fails_when_the_warehouse_is_unreachable(pipeline: Any, runs: Any, make: Any) -> None:
    runs.commit(1, make.base_dimensions())
    creds = json.loads(
        pipeline.aws.secretsmanager.get_secret_value(SecretId=pipeline.resources.warehouse_db_secret)["SecretString"]
    )
    creds["port"] = 1  # nothing listens there
    pipeline.aws.secretsmanager.put_secret_value(
        SecretId=pipeline.resources.warehouse_db_secret, SecretString=json.dumps(creds)
    )
    with pytest.raises(WarehouseLoadError, match="cannot connect"):
        lambda_handler({}, None)
