"""`make run` at a small scale: the same function `totes run-local` calls, on its own
stack (PostgreSQL + moto + the real Terraform applied to moto), with the real stages.
Reconciliation must pass after both cycles; the report must exist."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from local.pipeline_main import run_local


@pytest.mark.integration
@pytest.mark.slow
def test_run_local_end_to_end_reconciles(tmp_path) -> None:
    console = Console(file=io.StringIO(), width=120)
    result = run_local(
        scale=0.2, seed=7, root=tmp_path / "stack", fast=True, report_dir=tmp_path / "report", console=console
    )

    first, second = result.cycles
    assert [i.ok for c in result.cycles for i in c.cycle.invocations] == [True] * 6, [
        (i.function, i.error) for c in result.cycles for i in c.cycle.invocations
    ]
    assert first.runs == [1]
    assert second.runs == [2]
    assert first.extracted["sales_order"] == result.seeded["sales_order"]
    assert first.loaded["fact_sales_order"] == result.seeded["sales_order"]
    assert sum(second.extracted.values()) > 0  # the simulated changes were picked up
    assert result.reconciliation.differences == []
    assert result.ok
    assert result.status.lag_runs == {"ingestion": 0, "transform": 0, "load": 0}
    page = result.report_path.read_text()
    assert result.report_path.parent == tmp_path / "report"
    assert page.count("data:image/png;base64,") == 7
    assert result.log_path.read_text().count('"level"') > 0  # stage JSON logs went to the file
    assert not (tmp_path / "stack" / "pg" / "postmaster.pid").exists()  # the stack was stopped
