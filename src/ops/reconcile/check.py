"""Reconcile the warehouse with the source, range by range (the entry point is ``reconcile``)."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pg8000.native
from pg8000.native import identifier

from common.source_tables import SOURCE_TABLES
from common.warehouse_tables import TABLES
from ops.reconcile.bad_input import SourceJudge, source_type_mismatches
from ops.reconcile.compare import compare_rows
from ops.reconcile.derivations import (
    DIMENSIONS,
    FACTS,
    BadSourceValueError,
    TableCheck,
    date_attributes,
    derive_row,
    source_params,
)
from ops.reconcile.ranges import (
    chunk_at,
    differing_ranges,
    next_key,
    source_rows,
    source_summaries,
    warehouse_rows,
    warehouse_summaries,
)
from ops.reconcile.report import DEFAULT_MAX_SKIPPED_SHARE, LISTED_PER_TABLE, Difference, ReconcileReport


@dataclass
class _Run:
    """One reconciliation's connections, judge and report."""

    source: pg8000.native.Connection
    warehouse: pg8000.native.Connection
    report: ReconcileReport
    pool: ThreadPoolExecutor
    judge: SourceJudge = field(init=False)
    params: dict[str, Any] = field(default_factory=source_params)
    bad_members: dict[str, set[Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.judge = SourceJudge(self.source)


def _bad_reference(check: TableCheck, row: dict[str, Any], bad_members: dict[str, set[Any]]) -> str | None:
    """The reference of a row to a dimension member that was itself bad input, if any.

    The pipeline quarantines such a member, so the fact points at nothing and is
    quarantined too (docs/transform.md): bad input, not a difference.
    """
    for column, dimension in TABLES[check.table].references.items():
        if row[column] in bad_members.get(dimension, ()):
            return f"{column}={row[column]} is a {dimension} member skipped as bad input"
    return None


def _check_range(run: _Run, check: TableCheck, low: int, high: int) -> set[Any]:
    """Compare keys ``low..high`` of one table row by row; return the keys skipped as bad input."""
    judged = run.judge.in_range(check.source, low, high)
    expected: dict[Any, dict[str, Any]] = {}
    bad: set[Any] = set()
    for values in source_rows(run.source, check, low, high, run.params):
        key = values[0]
        try:
            if key in judged:
                raise BadSourceValueError(judged[key])
            row = derive_row(check, values)
            reason = _bad_reference(check, row, run.bad_members)
            if reason is not None:
                raise BadSourceValueError(reason)
        except BadSourceValueError as exc:
            bad.add(key)
            run.report.add_skipped(check.table, f"{check.skip_label} {check.key}={key}: {exc}")
            continue
        expected[key] = row
    actual = {k: r for k, r in warehouse_rows(run.warehouse, check, low, high).items() if k not in bad}
    run.report.add_differences(check.table, compare_rows(check.table, check.key, check.column_names, expected, actual))
    return bad


def _check_table(run: _Run, check: TableCheck) -> None:
    """Hash the table chunk by chunk on both sides at once; read back only the ranges that differ."""
    bad: set[Any] = set()
    source_rows_seen = 0
    position = None
    while (first := _next_key(run, check, position)) is not None:
        low, high = chunk_at(first)
        source_side = run.pool.submit(source_summaries, run.source, check, run.params, low, high)
        warehouse = warehouse_summaries(run.warehouse, check, low, high)
        source = source_side.result()
        source_rows_seen += sum(s.rows for s in source.values())
        for range_low, range_high in differing_ranges(source, warehouse):
            bad |= _check_range(run, check, range_low, range_high)
        position = high + 1
    run.bad_members[check.table] = bad
    run.report.count(check.table, source_rows_seen, len(bad))
    if check.versions is not None:
        _check_versions_stored_once(run, check)


def _next_key(run: _Run, check: TableCheck, at_least: int | None) -> int | None:
    """The smallest key >= ``at_least`` on either side (None: both sides are done)."""
    floor = -(2**31) if at_least is None else at_least
    source_key = SOURCE_TABLES[check.source].primary_key
    found = [
        next_key(run.source, check.source, source_key, floor),
        next_key(run.warehouse, check.table, check.key, floor),
    ]
    return min((k for k in found if k is not None), default=None)


def _check_versions_stored_once(run: _Run, check: TableCheck) -> None:
    key, table = identifier(check.key), identifier(check.table)
    # Identifiers from ops.reconcile.derivations; the limit is a constant.
    # A version is (source id, last_updated, every other value: 009): a same-timestamp correction is not a duplicate.
    version = ", ".join(identifier(c) for c in TABLES[check.table].version_columns)
    twice = (
        f"SELECT {key}, last_updated_date, last_updated_time, count(*) FROM {table}"  # noqa: S608  # nosec B608
        f" GROUP BY {version} HAVING count(*) > 1"
    )
    rows = run.warehouse.run(f"{twice} ORDER BY 1, 2, 3 LIMIT {LISTED_PER_TABLE}")
    diffs = [
        Difference(
            check.table, f"{check.key}={source_id} @ {day} {time}", "<version>", "stored once", f"stored {n} times"
        )
        for source_id, day, time, n in rows
    ]
    run.report.add_differences(check.table, diffs)
    if len(rows) == LISTED_PER_TABLE:  # counted, not listed, beyond the limit
        total = run.warehouse.run(f"SELECT count(*) FROM ({twice}) x")[0][0]  # noqa: S608  # nosec B608
        run.report.difference_counts[check.table] += total - len(rows)


def _check_dates(warehouse: pg8000.native.Connection, report: ReconcileReport) -> None:
    """Every dim_date row has the right attributes, and every date a fact references has a row."""
    columns = tuple(date_attributes(dt.date.min))
    select = f"SELECT {', '.join(identifier(c) for c in columns)} FROM dim_date"  # noqa: S608  # nosec B608
    rows = {r[0]: dict(zip(columns, r, strict=True)) for r in warehouse.run(select)}
    expected = {day: date_attributes(day) for day in rows}
    for fact in FACTS:
        days = ", ".join(f"({identifier(c)})" for c in TABLES[fact.table].date_columns)
        missing = (
            f"SELECT DISTINCT v.d FROM {identifier(fact.table)} CROSS JOIN LATERAL (VALUES {days}) v(d)"  # noqa: S608  # nosec B608
            " WHERE NOT EXISTS (SELECT 1 FROM dim_date WHERE date_id = v.d)"
        )
        expected.update({day: date_attributes(day) for (day,) in warehouse.run(missing)})
    report.add_differences("dim_date", compare_rows("dim_date", "date_id", columns, expected, rows))
    report.checked["dim_date"] = len(expected)


def reconcile(
    source: pg8000.native.Connection,
    warehouse: pg8000.native.Connection,
    *,
    max_skipped_share: float = DEFAULT_MAX_SKIPPED_SHARE,
) -> ReconcileReport:
    """Compare the whole warehouse with the current source.

    Parameters
    ----------
    source
        A connection to totesys (read-only access is enough).
    warehouse
        A connection to the warehouse.
    max_skipped_share
        The largest share of a table's source rows that may be skipped as bad input
        before the verdict fails (0.01: 1 %).

    Returns
    -------
    ReconcileReport
        ``ok`` is True when nothing differs, no source column is off the contract and no
        table skipped more than ``max_skipped_share``; ``differences`` name table, key,
        column, expected and actual values.
    """
    report = ReconcileReport(max_skipped_share=max_skipped_share)
    # One snapshot per side, so rows changing while we read cannot fake a difference.
    for con in (source, warehouse):
        con.run("START TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        # Dates and timestamps as ISO text on both sides (hashed texts must agree), whatever the role's default.
        con.run("SET LOCAL DateStyle = 'ISO, MDY'")
    try:
        report.type_mismatches, missing = source_type_mismatches(source)
        if missing:
            return report  # the contract's columns cannot even be read: nothing to compare
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="reconcile-source") as pool:
            run = _Run(source, warehouse, report, pool)
            for check in (*DIMENSIONS, *FACTS):  # dimensions first: facts skip references to bad members
                _check_table(run, check)
        _check_dates(warehouse, report)
    finally:
        for con in (source, warehouse):
            con.run("ROLLBACK")
    return report
