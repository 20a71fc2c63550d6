"""SSM state: roll-forward, sequence gaps (warning + metric), schema contract, bad state."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from aws_lambda_powertools import Metrics

from ingestion.errors import SchemaMismatchError, StateError, WatermarkError
from lake.keys import run_key


@pytest.fixture
def metrics() -> Metrics:
    m = Metrics(namespace="TotesPipelineTest", service="ingestion")
    m.clear_metrics()
    yield m
    m.clear_metrics()


def _metric(metrics: Metrics, name: str) -> float:
    doc = metrics.serialize_metric_set()
    value = doc[name]
    return value[0] if isinstance(value, list) else value


def _put(ingest, leaf: str, value: str) -> None:
    ingest.pipeline.aws.ssm.put_parameter(
        Name=f"{ingest.prefix}/ingestion/{leaf}", Value=value, Type="String", Overwrite=True
    )


def test_ssm_is_rolled_forward_over_manifests_it_does_not_know(ingest) -> None:
    ingest.run()
    ingest.clock.advance(minutes=5)
    ingest.run()
    _put(ingest, "last_run_seq", "0")  # as if both runs died after their manifests
    _put(ingest, "watermarks", "{}")
    ingest.clock.advance(minutes=5)
    ingest.add_currency("NEW", ingest.clock.now - timedelta(minutes=1))

    result = ingest.run()

    assert result.rolled_forward == (1, 2)
    assert result.run_seq == 3
    assert result.rows["currency"] == 1, "continued from manifest 2's watermarks, not from SSM's empty ones"
    assert ingest.ssm("last_run_seq") == "3"


def test_a_missing_manifest_is_a_sequence_gap_warning_and_metric(ingest, metrics, caplog) -> None:
    ingest.run()
    _put(ingest, "last_run_seq", "4")  # SSM names a run with no manifest

    result = ingest.run(metrics=metrics)

    assert result.status == "committed"
    assert result.run_seq == 5
    assert result.sequence_gaps == (4,)
    assert _metric(metrics, "SequenceGaps") == 1
    assert any(r.levelname == "WARNING" and "sequence gap" in r.getMessage() for r in caplog.records)


def test_a_hole_among_manifests_is_counted(ingest, metrics) -> None:
    ingest.run()
    first = ingest.store.get_json(run_key(1))
    ingest.store.put_new_json(run_key(3), {**first, "run_seq": 3})  # manifest 2 never existed
    ingest.clock.advance(minutes=5)

    result = ingest.run(metrics=metrics)

    assert result.sequence_gaps == (2,)
    assert result.run_seq == 4
    assert _metric(metrics, "SequenceGaps") == 1


def test_a_missing_contract_column_fails_the_run_and_commits_nothing(ingest) -> None:
    ingest.add_currency("GBP", ingest.clock.now - timedelta(minutes=1))
    ingest.admin.run("ALTER TABLE department DROP COLUMN manager")

    with pytest.raises(SchemaMismatchError, match=r"department\.manager"):
        ingest.run()

    assert ingest.manifests() == []
    assert ingest.ssm("last_run_seq") == "0"
    assert not [k for k in ingest.key_versions() if k.startswith("data/")]


def test_an_extra_source_column_is_ignored_with_a_warning(ingest, caplog) -> None:
    ingest.admin.run("ALTER TABLE currency ADD COLUMN secret_note text DEFAULT 'do not ingest'")
    ingest.add_currency("GBP", ingest.clock.now - timedelta(minutes=1))

    ingest.run()

    (row,) = ingest.committed_rows("currency")
    assert set(row) == {"currency_id", "currency_code", "created_at", "last_updated"}
    (warning,) = [r for r in caplog.records if r.levelname == "WARNING"]
    assert warning.columns == ["secret_note"]


def test_a_malformed_watermark_fails_the_run(ingest) -> None:
    _put(ingest, "watermarks", json.dumps({"currency": "2026-03-01 12:00"}))
    with pytest.raises(WatermarkError):
        ingest.run()


def test_missing_ssm_parameters_fail_the_run(ingest) -> None:
    ingest.pipeline.aws.ssm.delete_parameter(Name=f"{ingest.prefix}/ingestion/last_run_seq")
    with pytest.raises(StateError):
        ingest.run()


def test_a_run_reports_runs_rows_lag_and_duration(ingest, metrics, capsys) -> None:
    ingest.add_currency("GBP", ingest.clock.now - timedelta(minutes=1))
    ingest.add_currency("EUR", ingest.clock.now - timedelta(minutes=1))

    ingest.run(metrics=metrics)

    assert _metric(metrics, "RunsCommitted") == 1
    assert _metric(metrics, "RowsExtracted") == 2
    assert _metric(metrics, "SourceLagSeconds") == 0  # the manual clock did not move during the run
    assert _metric(metrics, "RunDurationMs") >= 0
    per_table = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"RowsExtracted"' in line]
    rows = {d["table"]: d["RowsExtracted"] for d in per_table}
    assert {t: v[0] if isinstance(v, list) else v for t, v in rows.items() if t in ("currency", "staff")} == {
        "currency": 2,
        "staff": 0,
    }
