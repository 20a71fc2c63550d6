"""Which source rows are bad input (the pipeline quarantines them), and whether the source keeps its contract.

Bad input is judged by ``common.value_domain`` (transform's own definition of a value the
warehouse can hold) on the values as ingestion reads them (PostgreSQL's text output), then
propagated along the joins transform checks (``_PARENTS``). Rows are judged only where a
key range differs (``SourceJudge.in_range``) and their parents by id, so this never reads a
whole big table: a bad value is one the warehouse cannot hold, so its range always differs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pg8000.native
import pyarrow as pa
from pg8000.native import identifier

from common.source_tables import SOURCE_TABLES, Column, ColumnType
from common.value_domain import bad_positions

# What each contract type is in the source DDL (SPEC §1), as format_type() writes it.
_SQL_TYPES: dict[ColumnType, tuple[str, ...]] = {
    ColumnType.INTEGER: ("integer",),
    ColumnType.NUMERIC: ("numeric(10,2)",),
    ColumnType.TEXT: ("text", "character varying"),  # currency_code is varchar(3)
    ColumnType.TEXT_DATE: ("text",),
    ColumnType.TIMESTAMP: ("timestamp(3) without time zone",),
    ColumnType.BOOLEAN: ("boolean",),
    ColumnType.ENUM: ("an enum",),
}

# Source rows the pipeline quarantines because the row they reference was quarantined
# (transform checks these joins: docs/transform.md).
_PARENTS: dict[str, dict[str, str]] = {
    "staff": {"department_id": "department"},
    "counterparty": {"legal_address_id": "address"},
}


def _type_ok(column: Column, sql_type: str, kind: str) -> bool:
    if column.type is ColumnType.ENUM:
        return kind == "e"
    return any(sql_type == t or sql_type.startswith(f"{t}(") for t in _SQL_TYPES[column.type])


def source_type_mismatches(source: pg8000.native.Connection) -> tuple[list[str], bool]:
    """Contract columns whose live type differs from SPEC §1 (named), and whether any is missing."""
    rows = source.run(
        "SELECT c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod), t.typtype::text"
        " FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_type t ON t.oid = a.atttypid"
        " WHERE c.relnamespace = to_regnamespace(current_schema()) AND c.relname = ANY(:names)"
        " AND a.attnum > 0 AND NOT a.attisdropped",
        names=list(SOURCE_TABLES),
    )
    live = {(table, column): (sql_type, kind) for table, column, sql_type, kind in rows}
    problems: list[str] = []
    missing = False
    for table in SOURCE_TABLES.values():
        for column in table.columns:
            found = live.get((table.name, column.name))
            if found is None:
                problems.append(f"source column {table.name}.{column.name} is missing (SPEC §1)")
                missing = True
            elif not _type_ok(column, *found):
                want = " or ".join(_SQL_TYPES[column.type])
                problems.append(
                    f"source column {table.name}.{column.name} is {found[0]}; the contract (SPEC §1) says {want}"
                )
    return problems, missing


def _lake_form(values: Sequence[str | None], column: Column) -> tuple[pa.Array, dict[int, str]]:
    """PostgreSQL's text of ``column``'s values as the lake holds them (int64, bool or the text),
    and the positions that cannot even take that form (a retyped column)."""
    if column.type not in (ColumnType.INTEGER, ColumnType.BOOLEAN):
        return pa.array(values, pa.string()), {}
    out: list[Any] = []
    unreadable: dict[int, str] = {}
    for i, value in enumerate(values):
        try:
            out.append(None if value is None else _scalar(value, column.type))
        except ValueError:
            unreadable[i] = f"wrong type: {column.name} is {value!r}"
            out.append(None)
    return pa.array(out, pa.int64() if column.type is ColumnType.INTEGER else pa.bool_()), unreadable


def _scalar(text: str, kind: ColumnType) -> int | bool:
    if kind is ColumnType.BOOLEAN:
        if text not in ("true", "false"):
            raise ValueError(text)
        return text == "true"
    value = int(text)
    if not -(2**63) <= value < 2**63:
        raise ValueError(text)
    return value


class SourceJudge:
    """Judges source rows by key range or by id; remembers what it judged of the parent tables."""

    def __init__(self, source: pg8000.native.Connection) -> None:
        self._source = source
        self._parents: dict[str, dict[int, str | None]] = {}

    def in_range(self, table: str, low: int, high: int) -> dict[int, str]:
        """The ids in ``low..high`` of source ``table`` that are bad input, with why."""
        key = identifier(SOURCE_TABLES[table].primary_key)
        return self._judge(table, f"{key} BETWEEN :low AND :high", low=low, high=high)

    def by_ids(self, table: str, ids: set[int]) -> dict[int, str]:
        """Of ``ids`` in source ``table``, those that are bad input (judged once per id)."""
        known = self._parents.setdefault(table, {})
        todo = sorted(ids - known.keys())
        if todo:
            key = identifier(SOURCE_TABLES[table].primary_key)
            bad = self._judge(table, f"{key} = ANY(CAST(:ids AS bigint[]))", ids=todo)
            known.update({i: bad.get(i) for i in todo})
        return {i: reason for i in ids if (reason := known.get(i)) is not None}

    def _judge(self, name: str, where: str, **params: Any) -> dict[int, str]:
        table = SOURCE_TABLES[name]
        cols = ", ".join(f"{identifier(c)}::text" for c in table.column_names)
        # Identifiers from the contract (common.source_tables); values bound.
        rows = self._source.run(f"SELECT {cols} FROM {identifier(name)} WHERE {where}", **params)  # noqa: S608  # nosec B608
        columns = list(zip(*rows, strict=True)) if rows else [() for _ in table.columns]
        ids = [int(i) for i in columns[0]]
        bad: dict[int, str] = {}
        for column, values in zip(table.columns, columns, strict=True):
            lake, unreadable = _lake_form(values, column)
            for position, reason in {**bad_positions(lake, column), **unreadable}.items():
                bad.setdefault(ids[position], reason)
        for column, parent in _PARENTS.get(name, {}).items():
            values = columns[table.column_names.index(column)]
            refs = {row_id: int(v) for row_id, v in zip(ids, values, strict=True) if v is not None and _is_int(v)}
            bad_parents = self.by_ids(parent, set(refs.values()))
            for row_id, ref in refs.items():
                if ref in bad_parents:
                    bad.setdefault(row_id, f"{column}={ref} is a {parent} row skipped as bad input")
        return bad


def _is_int(text: str) -> bool:
    return text.lstrip("-").isdigit()
