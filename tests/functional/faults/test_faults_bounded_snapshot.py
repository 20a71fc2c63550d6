"""A first snapshot bigger than ``SNAPSHOT_ROWS_PER_RUN``, taken in key ranges over several runs
(issue 16, ``ingestion.key_ranges``), end to end through the deployed handlers on a seeded
totesys and an empty warehouse: every run carries at most the budget, parents complete before
their children start, changes made during the snapshot arrive, a crash in the middle of a
range resumes at that range, a partial snapshot never looks like deletions, and the warehouse
ends exactly where a single-run first load of the same source ends."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from common.source_tables import TABLE_ORDER
from common.warehouse_tables import FACT_WAREHOUSE_COLUMNS, TABLES, Kind

BUDGET = 120  # rows of first snapshots per run: the seeded source (~1,100 rows) takes about ten runs


@pytest.fixture
def warehouse_db(stack: Any) -> Iterator[Any]:
    """A migrated, empty warehouse: these scenarios begin with the first snapshot."""
    with stack.warehouse_database() as db:
        yield db


@pytest.fixture
def world(pipeline: Any, deployed_handlers: Any, make_world: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The real handlers on the seeded totesys, nothing ingested yet, a small snapshot budget."""
    monkeypatch.setenv("SNAPSHOT_ROWS_PER_RUN", str(BUDGET))
    return make_world(pipeline, deployed_handlers)


def _pending(world: Any, seq: int) -> dict[str, Any]:
    return world.manifest(seq).get("snapshot_cursors", {})


def _snapshot_until_complete(world: Any, limit: int = 40) -> list[int]:
    """Scheduled cycles until no first snapshot is under way; the runs it took."""
    for _ in range(limit):
        world.cycle()
        last = world.runs("ingest")[-1]
        if not _pending(world, last) and set(world.manifest(last)["watermarks"]) == set(TABLE_ORDER):
            return world.runs("ingest")
    raise AssertionError("the first snapshot did not complete")


def _warehouse_rows(world: Any) -> dict[str, Counter[tuple[Any, ...]]]:
    """Every star table's rows (facts without the surrogate key, which only numbers load order)."""
    wh = world.pipeline.warehouse.admin
    out: dict[str, Counter[tuple[Any, ...]]] = {}
    for table in TABLES.values():
        extra = FACT_WAREHOUSE_COLUMNS if table.kind is Kind.FACT else ()
        columns = ", ".join((*table.column_names, *extra))
        out[table.name] = Counter(tuple(r) for r in wh.run(f"SELECT {columns} FROM {table.name}"))
    return out


def _assert_each_run_bounded_and_parents_first(world: Any) -> None:
    """At most BUDGET snapshot rows per run; a table's snapshot begins only once every earlier table is complete."""
    complete: set[str] = set()
    for seq in world.runs("ingest"):
        manifest = world.manifest(seq)
        taking = {t for t in manifest["tables"] if t not in complete}
        assert sum(manifest["tables"][t]["rows"] for t in taking) <= BUDGET, f"run {seq} carries more than the budget"
        for table in taking:
            earlier = TABLE_ORDER[: TABLE_ORDER.index(table)]
            assert set(earlier) <= complete | (set(manifest["watermarks"]) & set(earlier)), (seq, table)
            assert table not in complete
        complete |= set(manifest["watermarks"])
        # The watermark appears only with the last range, and it is the snapshot's bound.
        for table in _pending(world, seq):
            assert table not in manifest["watermarks"], (seq, table)
        if seq > 1:
            for table, cursor in _pending(world, seq - 1).items():
                if table in manifest["watermarks"]:
                    assert manifest["watermarks"][table] == cursor["bound"], (seq, table)


def test_a_budgeted_first_snapshot_ends_where_a_single_run_first_load_ends(
    world, stack, seeded_source_template, make_world
):
    runs = _snapshot_until_complete(world)
    assert len(runs) >= 5, runs
    _assert_each_run_bounded_and_parents_first(world)
    world.cycle()  # an incremental run after it: nothing to take, nothing twice
    world.verify()
    budgeted = _warehouse_rows(world)

    # The same source loaded by one unbounded first run, in a pipeline of its own.
    with (
        pytest.MonkeyPatch.context() as env,
        stack.source_database(seeded_source_template) as source,
        stack.warehouse_database() as warehouse,
    ):
        stack.aws_environment(env)
        env.setenv("SNAPSHOT_ROWS_PER_RUN", "1000000000")
        pipeline = stack.provision_pipeline(stack.aws_clients(), source, warehouse)
        single = make_world(pipeline, stack.deploy_handlers(pipeline))
        single.cycle()
        single.cycle()
        assert single.runs("ingest") == [1, 2]
        assert not _pending(single, 1)
        single.verify()
        reference = _warehouse_rows(single)
    assert sum(len(rows) for rows in reference.values()) > 1000, reference.keys()
    for table, rows in reference.items():
        assert budgeted[table] == rows, table


def test_changes_during_the_snapshot_arrive_and_nothing_arrives_twice(world, monkeypatch):
    # No look-back: the whole test is shorter than the default 900 s, whose re-read would
    # hide a snapshot bounded by each run's own start instead of the snapshot's first.
    monkeypatch.setenv("LOOKBACK_SECONDS", "0")
    world.cycle()
    world.cycle()
    cursors = _pending(world, world.runs("ingest")[-1])
    assert set(cursors) == {"sales_order"}, cursors  # a fact table with foreign keys, half taken
    taken_below = cursors["sales_order"]["from_id"]
    admin = world.admin
    taken = [r[0] for r in admin.run("SELECT sales_order_id FROM sales_order WHERE sales_order_id < :c"
                                     " ORDER BY 1 LIMIT 2", c=taken_below)]  # fmt: skip
    later = [r[0] for r in admin.run("SELECT sales_order_id FROM sales_order ORDER BY 1 DESC LIMIT 2")]
    assert len(taken) == len(later) == 2
    updated, deleted = (taken[0], later[0]), (taken[1], later[1])
    for row in updated:  # one in a range already taken, one in a range not yet taken
        admin.run("UPDATE sales_order SET units_sold = units_sold + 1, last_updated = now()"
                  " WHERE sales_order_id = :i", i=row)  # fmt: skip
    # Deleted: one already taken (only the comparison can see it), one never taken (nothing to see).
    admin.run("DELETE FROM sales_order WHERE sales_order_id IN (:a, :b)", a=deleted[0], b=deleted[1])
    world.simulate()  # realistic changes everywhere as well: inserts and updates, tables complete or not

    # A comparison during the snapshot compares only the complete tables: no deletions.
    during = world.invoke("ingestion", {"action": "compare"})
    assert during.ok, during.error
    assert during.result["deleted"] == {}
    world.cycle(schedule=False)

    _snapshot_until_complete(world)
    world.cycle()  # the first incremental run after it
    found = world.invoke("ingestion", {"action": "compare"})
    assert found.ok, found.error
    world.cycle(schedule=False)
    assert found.result["deleted"] == {"sales_order": 1}
    world.verify()
    wh = world.pipeline.warehouse.admin

    def versions(row: int) -> list[list[Any]]:
        return wh.run("SELECT units_sold, is_deleted FROM fact_sales_order WHERE sales_order_id = :i"
                      " ORDER BY sales_record_id", i=row)  # fmt: skip

    # Taken before its change: the old and the new version; not yet taken: only the new one
    # (the change moved it past the snapshot's bound, so the incremental run carried it).
    old, new = versions(updated[0])
    assert (new[0], old[1], new[1]) == (old[0] + 1, False, False)
    assert len(versions(updated[1])) == 1
    assert versions(deleted[0])[-1][1] is True
    assert versions(deleted[1]) == []


@pytest.mark.parametrize("point", ["data/", "state/", "runs/"])
def test_a_crash_in_the_middle_of_a_range_resumes_at_that_range(world, faults, point):
    from ops.status import collect_status

    world.cycle()
    first = world.runs("ingest")
    cursors = _pending(world, first[-1])
    assert cursors
    p = world.pipeline  # `totes status` shows where the snapshot stands
    status = collect_status(s3=p.aws.s3, ssm=p.aws.ssm, resources=p.resources, warehouse=p.warehouse.admin)
    assert {t: c.to_doc() for t, c in status.snapshots.items()} == cursors
    ingest = world.pipeline.resources.ingest_bucket

    # The next run dies at its range's data object, or after it (at the recent keys, at the
    # manifest), and so does the Lambda's retry: nothing is committed.
    faults.add("s3", "PutObject", match=lambda kw: kw.get("Bucket") == ingest and kw["Key"].startswith(point),
               times=2)  # fmt: skip
    crashed = world.invoke("ingestion", retries=1)
    assert not crashed.ok
    assert crashed.attempts == 2
    faults.clear()
    assert world.runs("ingest") == first, "a crashed run became visible"
    prefix = world.pipeline.resources.ssm_prefix
    mirrored = world.pipeline.aws.ssm.get_parameter(Name=f"{prefix}/ingestion/snapshot_cursors")["Parameter"]["Value"]
    assert json.loads(mirrored) == cursors

    world.cycle()
    resumed = world.manifest(first[-1] + 1)
    table, cursor = next(iter(cursors.items()))
    entry = resumed["tables"][table]
    lines = gzip.decompress(world.store("ingest").get_bytes(entry["key"])).decode().splitlines()
    first_id = min(int(json.loads(line)[f"{table}_id"]) for line in lines)
    assert first_id == cursor["from_id"], "the next run did not take the range the crashed one was taking"
    assert _pending(world, first[-1] + 1)[table]["runs"] == cursor["runs"] + 1
    _snapshot_until_complete(world)
    world.verify()
