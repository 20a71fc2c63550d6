"""Two runs at once: exactly one commits a given sequence id; SSM never moves backwards."""

from __future__ import annotations

import threading
from datetime import timedelta


def test_a_run_overtaken_before_its_manifest_is_superseded(ingest, faults) -> None:
    ingest.add_currency("AAA", ingest.clock.now - timedelta(minutes=1))
    results = {}

    def run_b_first(key: str) -> None:
        if key.startswith("runs/") and "b" not in results:
            ingest.clock.advance(seconds=1)
            ingest.add_currency("BBB", ingest.clock.now - timedelta(milliseconds=500))
            results["b"] = ingest.run()  # B starts after A, claims the same seq and commits first

    results["a"] = ingest.run(store=faults.store(ingest.store, before_put=run_b_first))

    assert results["b"].status == "committed"
    assert results["a"].status == "superseded"
    assert results["a"].run_seq == results["b"].run_seq == 1
    (manifest,) = ingest.manifests()
    assert manifest["attempt"] == results["b"].attempt
    assert ingest.ssm("last_run_seq") == "1"
    ingest.clock.advance(minutes=5)
    assert ingest.run().run_seq == 2
    assert ingest.committed_versions("currency") == ingest.source_versions("currency")
    assert set(ingest.key_versions().values()) == {1}


def test_ssm_never_moves_backwards_when_a_later_run_updated_it_first(ingest, faults) -> None:
    ingest.add_currency("AAA", ingest.clock.now - timedelta(minutes=1))
    results = {}

    def run_b_between_manifest_and_ssm() -> None:
        if "b" not in results:
            ingest.clock.advance(minutes=1)
            results["b"] = ingest.run()  # sees A's manifest 1, rolls forward, commits 2

    results["a"] = ingest.run(ssm=faults.ssm(ingest.pipeline.aws.ssm, before_put=run_b_between_manifest_and_ssm))

    assert results["a"].status == "committed"
    assert results["a"].run_seq == 1
    assert results["b"].run_seq == 2
    assert results["b"].rolled_forward == (1,)
    assert ingest.ssm("last_run_seq") == "2", "A's late SSM update must not undo B's"
    assert [m["run_seq"] for m in ingest.manifests()] == [1, 2]


def test_two_threads_racing_for_one_sequence_id(ingest, faults) -> None:
    ingest.add_currency("AAA", ingest.clock.now - timedelta(minutes=1))
    both_ready = threading.Barrier(2, timeout=60)

    def wait_for_the_other(key: str) -> None:
        if key.startswith("runs/"):
            both_ready.wait()  # both have extracted; now both try to create runs/0000000001.json

    outcomes: list[object] = []

    def attempt() -> None:
        try:
            outcomes.append(ingest.run(store=faults.store(ingest.store, before_put=wait_for_the_other)))
        except Exception as exc:  # reported through outcomes, asserted below
            outcomes.append(exc)

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    statuses = sorted(getattr(o, "status", repr(o)) for o in outcomes)
    assert statuses == ["committed", "superseded"]
    assert [m["run_seq"] for m in ingest.manifests()] == [1]
    assert set(ingest.key_versions().values()) == {1}
