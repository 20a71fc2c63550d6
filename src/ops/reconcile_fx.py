"""Reconcile the exchange rates: the warehouse's ``fx_rate`` against what the lake recorded.

The rates' source of truth is not totesys but the lake: the newest committed rates state
(``lake.fx_rates.FxState``, named by SSM ``<prefix>/ingestion/fx_rates_state``) holds every
good rate ingestion kept, per date and currency. Each must be in ``fx_rate`` with the same
rate (at the stored scale) and base, and ``fx_rate`` must hold nothing else: a rate the
lake rejected (quarantined) is absent from both. Differences join the same report as the
star tables' (``ops.reconcile.ReconcileReport``), under the table ``fx_rate``.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import pg8000.native

from common.s3_store import LakeStore
from ingestion.fx_run import load_fx_state
from lake.fx_rates import RATE_SCALE
from lake.keys import FX_RATES
from ops.reconcile import ReconcileReport, compare_rows

KEY = "currency_code/rate_date"
COLUMNS = ("rate", "base_currency")
_QUANTUM = Decimal(1).scaleb(-RATE_SCALE)


def expected_rates(ingest: LakeStore, ssm: Any, ssm_prefix: str) -> dict[str, dict[str, Any]]:
    """Every good rate the lake recorded, keyed ``CODE YYYY-MM-DD``, as the warehouse stores it."""
    state = load_fx_state(ingest, ssm, ssm_prefix)
    return {
        f"{code} {day.isoformat()}": {
            "rate": Decimal(text).quantize(_QUANTUM, rounding=ROUND_HALF_EVEN),
            "base_currency": state.base_currency,
        }
        for day, held in state.dates.items()
        for code, text in held.rates.items()
    }


def warehouse_rates(warehouse: pg8000.native.Connection) -> dict[str, dict[str, Any]]:
    rows = warehouse.run("SELECT currency_code, to_char(rate_date, 'YYYY-MM-DD'), rate, base_currency FROM fx_rate")
    return {f"{code} {day}": {"rate": rate, "base_currency": base} for code, day, rate, base in rows}


def check_fx_rates(
    ingest: LakeStore, ssm: Any, ssm_prefix: str, warehouse: pg8000.native.Connection, report: ReconcileReport
) -> None:
    """Add the ``fx_rate`` differences and counts to ``report``."""
    expected = expected_rates(ingest, ssm, ssm_prefix)
    report.add_differences(FX_RATES, compare_rows(FX_RATES, KEY, COLUMNS, expected, warehouse_rates(warehouse)))
    report.count(FX_RATES, len(expected), 0)
