"""`make run` at a small scale: the same function `totes run-local` calls, on its own
stack (PostgreSQL + moto + the real Terraform applied to moto), with the real stages.
Reconciliation must pass after every cycle (the third is the comparison, which finds the
simulated hard delete, its SET NULL and the in-place fix); the report must exist."""

from __future__ import annotations

import io
import shutil
import uuid

import pytest
from rich.console import Console

from cli.run_local import run_local
from local.paths import LOCAL_DIR


@pytest.mark.integration
@pytest.mark.slow
def test_run_local_end_to_end_reconciles(tmp_path) -> None:
    console = Console(file=io.StringIO(), width=120)
    # Under .local, not tmp_path: the PostgreSQL server user must be able to reach it.
    root = LOCAL_DIR / "test" / f"run-local-{uuid.uuid4().hex[:8]}"
    try:
        result = run_local(scale=0.2, seed=7, root=root, fast=True, report_dir=tmp_path / "report", console=console)
    finally:
        stopped = not (root / "pg" / "postmaster.pid").exists()
        logs = "".join(p.read_text() for p in (root / "logs").glob("*.log"))
        shutil.rmtree(root, ignore_errors=True)
    assert stopped  # the stack was stopped

    first, second, compared = result.cycles
    invocations = [i for c in result.cycles for i in c.cycle.invocations]
    assert all(i.ok for i in invocations), [(i.function, i.error) for i in invocations]
    # Each cycle: the tables' run, then the exchange rates' run (served locally, local.fx_server)
    # when there was a date to ask; one transform and one load per run's notification; then the
    # load function's fold of the summaries (load.handler's fold_summaries), through the last run.
    assert first.runs == [1, 2]
    assert second.runs[0] == 3
    assert len(invocations) == sum(1 + 2 * len(c.runs) + 1 for c in result.cycles)
    folds = [c.cycle.invocations[-1].result for c in result.cycles]
    assert [(f["action"], f["folded_through"]) for f in folds] == [
        ("fold_summaries", c.runs[-1]) for c in result.cycles
    ]
    assert first.extracted["sales_order"] == result.seeded["sales_order"]
    assert first.loaded["fact_sales_order"] == result.seeded["sales_order"]
    assert first.loaded["fx_rate"] == first.transformed["fx_rate"] == first.extracted["fx_rate"] > 0
    assert result.reconciliation.checked["fx_rate"] >= first.loaded["fx_rate"]
    assert sum(second.extracted.values()) > 0  # the simulated changes were picked up
    assert compared.runs == [second.runs[-1] + 1]  # a comparison asks for no rates
    assert compared.found_deleted == {"sales_order": 1}
    # the price fix, and the SET NULL on the deleted order's transaction (every order has one)
    assert compared.found_changed_in_place == {"sales_order": 1, "transaction": 1}
    assert result.reconciliation.differences == []
    assert result.ok
    assert result.status.lag_runs == {"ingestion": 0, "transform": 0, "load": 0}
    page = result.report_path.read_text()
    assert result.report_path.parent == tmp_path / "report"
    assert page.count("data:image/png;base64,") == 7
    assert '"level"' in logs  # the stages' JSON logs went to the log file, not the console
    assert '"level"' not in console.file.getvalue()
