"""Key ranges hashed in each database, so only the ranges that differ are read into Python.

Each side computes, per range of ``2**RANGE_BITS`` consecutive keys, a chunk of
``CHUNK_RANGES`` ranges per statement (empty stretches of keys skipped), the row count and
the sum of a 64-bit hash of each row: the source over the derivation's expressions, the
warehouse over its columns (facts: the current version of each source id, the
current-state view).
``hash_record_extended`` hashes each value by its type's own hash function (no text is
formatted, which was most of the cost), so both sides build the same row types: the
derivations yield the warehouse's types, and a source text date is compared as text (the
warehouse's date as ISO text). The two databases may be different servers: PostgreSQL
>= 14 on both, same byte order (the hash functions are those hash partitioning relies on,
stable across versions). A range whose count or sum differs is read back from both sides
and compared in Python column by column (``ops.reconcile.compare``), so memory holds one
range at a time whatever the table's size; equal sums of the same rows mean equal values
(a collision of 64-bit sums is the only way to miss a difference).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pg8000.native
from pg8000.native import identifier

from ops.reconcile.derivations import TableCheck

RANGE_BITS = 10  # 1,024 keys per range: ~1,000 ranges per million rows, a small read when one differs
# Ranges hashed per statement (65,536 keys): each statement stays short (a busy or
# statement_timeout-limited server) and the ranges summarised wait in memory in small sets.
CHUNK_RANGES = 64

_ROW_HASH = "hash_record_extended(ROW({}), 0)"


@dataclass(frozen=True)
class RangeSummary:
    """One key range on one side: how many rows, and the sum of their hashes."""

    rows: int
    hash_sum: Decimal


def _params(sql: str, params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if f":{k}" in sql}


def _source_from(check: TableCheck) -> str:
    return f"{identifier(check.source)} s {check.joins}".strip()


def _warehouse_from(check: TableCheck) -> str:
    """The warehouse rows of keys ``:low..:high`` (facts: the current version of each source id)."""
    table, key = identifier(check.table), identifier(check.key)
    if check.versions is not None:
        # SPEC §2's current version (greatest last_updated, ties by the later load), deleted
        # source rows left out: the current-state view (migration 005); the key range is
        # pushed into its DISTINCT ON, so each chunk reads only its own versions.
        table = f"pipeline.{identifier(check.table + '_current')}"
    return f"(SELECT * FROM {table} WHERE {key} BETWEEN :low AND :high) w"  # noqa: S608  # nosec B608


def _summaries_sql(key: str, values: list[str], from_: str) -> str:
    row_hash = _ROW_HASH.format(", ".join(values))
    # Every identifier and expression is a constant of ops.reconcile.derivations.
    return (
        f"SELECT {key} >> {RANGE_BITS}, count(*), sum({row_hash}) FROM {from_}"  # noqa: S608  # nosec B608
        f" WHERE {key} BETWEEN :low AND :high GROUP BY 1"
    )


def next_key(con: pg8000.native.Connection, table: str, key: str, at_least: int) -> int | None:
    """The smallest ``key`` of ``table`` that is >= ``at_least`` (an index look-up), or None."""
    sql = f"SELECT min({identifier(key)}) FROM {identifier(table)} WHERE {identifier(key)} >= :at_least"  # noqa: S608  # nosec B608
    return con.run(sql, at_least=at_least)[0][0]


def chunk_at(first_key: int) -> tuple[int, int]:
    """The chunk of ``CHUNK_RANGES`` whole ranges that holds ``first_key``: its (low, high) keys."""
    low = (first_key >> RANGE_BITS) << RANGE_BITS
    return low, low + (CHUNK_RANGES << RANGE_BITS) - 1


def source_summaries(
    con: pg8000.native.Connection, check: TableCheck, params: dict[str, Any], low: int, high: int
) -> dict[int, RangeSummary]:
    """Per key range in ``low..high``, the source derivation's row count and hash sum."""
    values = [f"({c.sql})" for c in check.columns]
    sql = _summaries_sql(check.columns[0].sql, values, _source_from(check))
    return {r: RangeSummary(n, h) for r, n, h in con.run(sql, low=low, high=high, **_params(sql, params))}


def warehouse_summaries(
    con: pg8000.native.Connection, check: TableCheck, low: int, high: int
) -> dict[int, RangeSummary]:
    """Per key range in ``low..high``, the warehouse table's (facts: latest versions') row count and hash sum."""
    # A text date is compared as the source's text (ISO output: DateStyle is set by reconcile).
    values = [f"w.{identifier(c.column)}" + ("::text" if c.text_date else "") for c in check.columns]
    sql = _summaries_sql(f"w.{identifier(check.key)}", values, _warehouse_from(check))
    return {r: RangeSummary(n, h) for r, n, h in con.run(sql, low=low, high=high)}


def differing_ranges(source: dict[int, RangeSummary], warehouse: dict[int, RangeSummary]) -> Iterator[tuple[int, int]]:
    """The (low, high) keys of every range whose summaries differ or exist on one side only, in order."""
    for r in sorted(source.keys() | warehouse.keys()):
        if source.get(r) != warehouse.get(r):
            yield r << RANGE_BITS, ((r + 1) << RANGE_BITS) - 1


def source_rows(
    con: pg8000.native.Connection, check: TableCheck, low: int, high: int, params: dict[str, Any]
) -> list[list[Any]]:
    """The derivation's rows of keys ``low..high`` (columns in ``check.columns`` order)."""
    exprs = ", ".join(c.sql for c in check.columns)
    where = f"{check.columns[0].sql} BETWEEN :low AND :high"
    sql = f"SELECT {exprs} FROM {_source_from(check)} WHERE {where}"  # noqa: S608  # nosec B608
    return con.run(sql, low=low, high=high, **_params(sql, params))


def warehouse_rows(con: pg8000.native.Connection, check: TableCheck, low: int, high: int) -> dict[Any, dict[str, Any]]:
    """The warehouse's rows (facts: latest versions) of keys ``low..high``, by key."""
    cols = ", ".join(f"w.{identifier(c)}" for c in check.column_names)
    where = f"w.{identifier(check.key)} BETWEEN :low AND :high"
    sql = f"SELECT {cols} FROM {_warehouse_from(check)} WHERE {where}"  # noqa: S608  # nosec B608
    return {r[0]: dict(zip(check.column_names, r, strict=True)) for r in con.run(sql, low=low, high=high)}
