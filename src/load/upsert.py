"""From staging into the star schema: quarantine, dimension upserts, dates, inferred members, fact appends.

Every function runs inside the run's transaction and takes the staged table it
works on. Identifiers come from ``common.warehouse_tables`` (the allow-list) through
``identifier()``; every value is a bound parameter. That is why the statements built
with f-strings carry ``noqa: S608`` / ``nosec B608``: only quoted identifiers are interpolated.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import pg8000.exceptions
import pg8000.native
from pg8000.native import identifier

from common.dim_date import dim_date_row
from common.warehouse_tables import TABLES, Kind, WarehouseTable
from load.errors import sqlstate
from load.staging import StagedTable

# Bulk mode (see append_facts): worth it for big batches only. The per-row RI triggers
# of a fact with nine foreign keys cost far more per batch row than re-validating the
# keys costs per row of the whole fact table (docs/benchmarks.md, "Measurements behind the code").
BULK_MIN_ROWS = 50_000
BULK_MAX_TABLE_RATIO = 50  # bulk only while the existing table is < 50x the batch


def _ident_list(names: Iterable[str]) -> str:
    return ", ".join(identifier(n) for n in names)


def quarantine_nulls(con: pg8000.native.Connection, staged: StagedTable, run_seq: int) -> int:
    """Move staged rows with a NULL in a NOT NULL column to ``pipeline.load_quarantine``.

    One bad row must not fail the run forever (a crash loop blocks every later run),
    so it is kept with its reason, counted and alerted on, and the rest is loaded.
    Only runs when the Arrow null counts saw such a row.
    """
    bad_cols = [c for c, n in staged.null_counts.items() if n]
    if not bad_cols:
        return 0
    stg = identifier(staged.staging)
    predicate = " OR ".join(f"s.{identifier(c)} IS NULL" for c in bad_cols)
    con.run(
        "INSERT INTO pipeline.load_quarantine (run_seq, table_name, reason, row_data) "  # noqa: S608  # nosec B608
        f"SELECT :seq, :table, :reason, to_jsonb(s) FROM {stg} AS s WHERE {predicate}",
        seq=run_seq,
        table=staged.table.name,
        reason=f"NULL in NOT NULL column(s) of {staged.table.name}: {', '.join(sorted(bad_cols))}",
    )
    moved = con.row_count
    con.run(f"DELETE FROM {stg} AS s WHERE {predicate}")  # noqa: S608  # nosec B608
    staged.rows -= moved
    return moved


def upsert_dimension(con: pg8000.native.Connection, staged: StagedTable, run_seq: int) -> tuple[int, int]:
    """Type-1 upsert of a staged dimension; mark inferred members it completes.

    Returns
    -------
    tuple[int, int]
        (rows inserted or changed, inferred members completed).
    """
    table = staged.table
    if table.kind is Kind.DATE:
        return insert_dates_from_staging(con, staged), 0
    key = identifier(table.key)
    cols = _ident_list(table.column_names)
    others = [c for c in table.column_names if c != table.key]
    sets = ", ".join(f"{identifier(c)} = EXCLUDED.{identifier(c)}" for c in others)
    old = ", ".join(f"d.{identifier(c)}" for c in others)
    new = ", ".join(f"EXCLUDED.{identifier(c)}" for c in others)
    # DISTINCT ON guards against a member twice in one file (ON CONFLICT DO UPDATE cannot
    # touch a row twice): the last row in the file wins, and a fresh staging table's ctid
    # order is its COPY order. The WHERE skips no-op updates, so unchanged members keep
    # their row version and are not counted as loaded.
    con.run(
        f"INSERT INTO public.{identifier(table.name)} AS d ({cols}) "  # noqa: S608  # nosec B608
        f"SELECT DISTINCT ON ({key}) {cols} FROM {identifier(staged.staging)} ORDER BY {key}, ctid DESC "
        f"ON CONFLICT ({key}) DO UPDATE SET {sets} WHERE ROW({old}) IS DISTINCT FROM ROW({new})"
    )
    changed = con.row_count
    con.run(
        "UPDATE pipeline.inferred_member SET completed_run_seq = :seq, completed_at = now() "  # noqa: S608  # nosec B608
        f"WHERE table_name = :table AND completed_run_seq IS NULL "
        f"AND member_id IN (SELECT {key} FROM {identifier(staged.staging)})",
        seq=run_seq,
        table=table.name,
    )
    return changed, con.row_count


def insert_dates_from_staging(con: pg8000.native.Connection, staged: StagedTable) -> int:
    """dim_date rows shipped by transform: insert the missing ones; a date never changes."""
    cols = _ident_list(staged.table.column_names)
    con.run(
        f"INSERT INTO public.dim_date ({cols}) SELECT {cols} FROM {identifier(staged.staging)} "  # noqa: S608  # nosec B608
        "ON CONFLICT (date_id) DO NOTHING"
    )
    return con.row_count


def ensure_dates(con: pg8000.native.Connection, dates: Iterable[dt.date | str]) -> int:
    """Insert the dim_date members for ``dates`` that are missing; return how many were added.

    Every fact date must have its member before the fact's rows go in, whether or not
    transform shipped it (a fact can reference any date: agreed delivery dates run years
    ahead). The attributes are ``common.dim_date``'s, the one derivation transform uses too.
    """
    # ISO text, so that a date only the database can judge (``staging._distinct``) is judged there.
    values = sorted({d if isinstance(d, str) else d.isoformat() for d in dates})
    if not values:
        return 0
    columns = list(zip(*(_dim_date_row(v) for v in values), strict=True))
    con.run(
        "INSERT INTO public.dim_date (date_id, year, month, day, day_of_week, day_name, month_name, quarter) "
        "SELECT * FROM unnest(CAST(:d AS date[]), CAST(:y AS int[]), CAST(:m AS int[]), CAST(:dd AS int[]), "
        "CAST(:w AS int[]), CAST(:dn AS text[]), CAST(:mn AS text[]), CAST(:q AS int[])) "
        "ON CONFLICT (date_id) DO NOTHING",
        **dict(zip(("d", "y", "m", "dd", "w", "dn", "mn", "q"), map(list, columns), strict=True)),
    )
    return con.row_count


def _dim_date_row(iso: str) -> tuple[object, ...]:
    """``common.dim_date``'s row of an ISO date; a date Python cannot hold (year 0) keeps its text and
    no attributes, so PostgreSQL refuses it (a data exception: ``load.refused`` quarantines its rows)."""
    try:
        day = dt.date.fromisoformat(iso)
    except ValueError:
        return (iso, None, None, None, None, None, None, None)
    return (iso, *dim_date_row(day)[1:])


@dataclass(frozen=True)
class InferredMember:
    """A placeholder dimension member created for a fact whose dimension row never arrived."""

    table: str
    member_id: int
    referenced_by: str


def infer_missing_members(
    con: pg8000.native.Connection, fact: WarehouseTable, source: str, run_seq: int, first_id: int | None = None
) -> list[InferredMember]:
    """Create placeholder members for every dimension key the fact rows in ``source`` reference but the warehouse lacks.

    The placeholder ('Unknown (inferred)' text, NULL where allowed) keeps referential
    integrity without dropping the fact; ``pipeline.inferred_member`` records it, and
    the real row overwrites it when it arrives (``upsert_dimension`` marks it completed).

    ``source`` is the quoted relation holding the rows: the staging table, or the fact
    itself on the direct path, where ``first_id`` (the first surrogate key of the batch)
    narrows the scan to the batch. Without it the whole fact is read, which finds the
    same members: the rows stored before hold valid keys (their foreign keys were validated).
    The keys are found by the database (one scan of ``source`` per dimension) and never
    travel to Python: a fact of millions of rows references millions of transactions.
    """
    batch = f" AND s.{identifier(fact.surrogate_key)} >= :first" if first_id is not None else ""
    by_dim: dict[str, list[str]] = {}
    for column, dim in fact.references.items():
        by_dim.setdefault(dim, []).append(column)
    inferred: list[InferredMember] = []
    for dim_name, columns in by_dim.items():
        dim = TABLES[dim_name]
        ph_cols = list(dim.placeholder)
        params: dict[str, object] = {f"p{i}": dim.placeholder[c] for i, c in enumerate(ph_cols)}
        if first_id is not None:
            params["first"] = first_id
        ph_values = ", ".join(f":p{i}" for i in range(len(ph_cols)))
        key = identifier(dim.key)
        dim_table = f"public.{identifier(dim.name)}"
        # Each row is anti-joined first and only the few misses are made DISTINCT: a DISTINCT
        # over every referenced id first is planned for 200 groups (the rows just COPYed have
        # no statistics), then probes the dimension's index once per id (docs/benchmarks.md).
        referencing = " UNION ALL ".join(
            f"SELECT s.{identifier(c)} FROM {source} AS s WHERE s.{identifier(c)} IS NOT NULL{batch}"  # noqa: S608  # nosec B608
            f" AND NOT EXISTS (SELECT 1 FROM {dim_table} AS d WHERE d.{key} = s.{identifier(c)})"
            for c in columns
        )
        # Sorted, so members are created (and logged) in key order.
        rows = con.run(
            f"WITH missing AS (SELECT DISTINCT r.id FROM ({referencing}) AS r(id) ORDER BY r.id), "  # noqa: S608  # nosec B608
            f"created AS (INSERT INTO {dim_table} ({key}, {_ident_list(ph_cols)})"
            f" SELECT id, {ph_values} FROM missing ON CONFLICT ({key}) DO NOTHING RETURNING {key}"
            ") INSERT INTO pipeline.inferred_member (table_name, member_id, inferred_run_seq, referenced_by)"
            f" SELECT :dim, {key}, :seq, :ref FROM created ON CONFLICT (table_name, member_id) DO NOTHING"
            " RETURNING member_id",
            dim=dim.name,
            seq=run_seq,
            ref=fact.name,
            **params,
        )
        inferred.extend(InferredMember(dim.name, int(r[0]), fact.name) for r in rows)
    return inferred


def infer_for_staged(con: pg8000.native.Connection, staged: StagedTable, run_seq: int) -> list[InferredMember]:
    """The inferred members a staged fact needs.

    Call it before ``quarantine_nulls``: the members a quarantined row references are
    inferred too, so which placeholders a run creates does not depend on which rows it quarantines.
    """
    return infer_missing_members(con, staged.table, identifier(staged.staging), run_seq)


# -- facts ------------------------------------------------------------------------


@dataclass(frozen=True)
class ForeignKey:
    name: str
    column: str
    ref_table: str
    ref_column: str


def _expected_fks(fact: WarehouseTable) -> set[tuple[str, str, str]]:
    refs = {(c, d, TABLES[d].key) for c, d in fact.references.items()}
    return refs | {(c, "dim_date", "date_id") for c in fact.date_columns}


def bulk_foreign_keys(con: pg8000.native.Connection, fact: WarehouseTable) -> list[ForeignKey] | None:
    """The fact's foreign keys if bulk mode can drop and recreate them faithfully, else None.

    Only the plain single-column, immediate, NO ACTION keys of 001_star_schema.sql
    qualify, and only if they are exactly the ones the allow-list expects: anything
    else (a key someone added by hand) would not be recreated identically.
    """
    rows = con.run(
        "SELECT c.conname, a.attname, r.relname, ra.attname, c.condeferrable, c.confupdtype, c.confdeltype,"
        " c.convalidated, cardinality(c.conkey) "
        "FROM pg_constraint c "
        "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
        "JOIN pg_class r ON r.oid = c.confrelid "
        "JOIN pg_attribute ra ON ra.attrelid = c.confrelid AND ra.attnum = c.confkey[1] "
        "WHERE c.conrelid = to_regclass(:t) AND c.contype = 'f'",
        t=f"public.{fact.name}",
    )
    fks = []
    for name, col, ref_table, ref_col, deferrable, upd, dele, valid, ncols in rows:
        if deferrable or upd != "a" or dele != "a" or not valid or ncols != 1:
            return None
        fks.append(ForeignKey(name, col, ref_table, ref_col))
    if {(f.column, f.ref_table, f.ref_column) for f in fks} != _expected_fks(fact):
        return None
    return fks


def existing_rows(con: pg8000.native.Connection, table: WarehouseTable) -> int:
    """The planner's estimate of ``table``'s rows: cheap, and exact enough to pick a
    strategy (never correctness)."""
    return int(
        con.run(
            "SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = to_regclass(:t)",
            t=f"public.{table.name}",
        )[0][0]
    )


def bulk_sized(con: pg8000.native.Connection, fact: WarehouseTable, rows: int) -> bool:
    """Whether a batch of ``rows`` is big enough, next to the table, for dropping and
    re-validating the foreign keys to beat per-row RI triggers (bulk mode and the
    direct path)."""
    return rows >= BULK_MIN_ROWS and existing_rows(con, fact) < rows * BULK_MAX_TABLE_RATIO


def use_bulk_mode(con: pg8000.native.Connection, staged: StagedTable) -> bool:
    """Whether ``append_facts`` should run in bulk mode for this staged batch."""
    return bulk_sized(con, staged.table, staged.rows)


def drop_foreign_keys(con: pg8000.native.Connection, fact: WarehouseTable, fks: Iterable[ForeignKey]) -> None:
    """Drop the fact's foreign keys (inside the run's transaction; see ``add_foreign_keys``)."""
    target = f"public.{identifier(fact.name)}"
    for fk in fks:
        con.run(f"ALTER TABLE {target} DROP CONSTRAINT {identifier(fk.name)}")


def add_foreign_keys(con: pg8000.native.Connection, fact: WarehouseTable, fks: Iterable[ForeignKey]) -> None:
    """Re-add (and so validate, one join per key) the foreign keys ``drop_foreign_keys`` dropped.

    One ALTER TABLE: one lock and one statement; PostgreSQL still checks each key.
    """
    adds = [
        f"ADD CONSTRAINT {identifier(fk.name)} FOREIGN KEY ({identifier(fk.column)}) "
        f"REFERENCES public.{identifier(fk.ref_table)} ({identifier(fk.ref_column)})"
        for fk in fks
    ]
    if adds:
        con.run(f"ALTER TABLE public.{identifier(fact.name)} " + ", ".join(adds))


def append_facts(con: pg8000.native.Connection, staged: StagedTable, bulk: bool = False) -> int:
    """Append the staged fact versions; a version already stored is skipped. Return rows inserted.

    ``ON CONFLICT ON CONSTRAINT <fact>_version_uq DO NOTHING`` makes a version that is
    already in the warehouse (or twice in the batch) a no-op, so a re-delivered run,
    or one loaded with the ledger bypassed, stores nothing twice.

    In bulk mode the insert is a plain anti-joined INSERT (``_insert_new_versions``),
    and the foreign keys are dropped for the insert and re-added (validated)
    before COMMIT, inside the same transaction: one anti-join per key instead of a
    trigger call per key per row. Referential integrity still holds at every commit,
    the DDL rolls back with the run, and the price is an ACCESS EXCLUSIVE lock on the
    fact and its dimensions until COMMIT (acceptable for a backfill-sized batch).
    """
    fact = staged.table
    fks = bulk_foreign_keys(con, fact) if bulk else None
    if not fks:
        return _insert_on_conflict(con, staged)
    drop_foreign_keys(con, fact, fks)
    inserted = _insert_new_versions(con, staged)
    add_foreign_keys(con, fact, fks)
    return inserted


def _insert_on_conflict(con: pg8000.native.Connection, staged: StagedTable) -> int:
    fact = staged.table
    cols = _ident_list(fact.column_names)
    con.run(
        f"INSERT INTO public.{identifier(fact.name)} ({cols}) SELECT {cols} FROM {identifier(staged.staging)} "  # noqa: S608  # nosec B608
        f"ON CONFLICT ON CONSTRAINT {identifier(fact.version_constraint)} DO NOTHING"
    )
    return con.row_count


_UNIQUE_VIOLATION = "23505"


def _insert_new_versions(con: pg8000.native.Connection, staged: StagedTable) -> int:
    """Bulk path: a plain INSERT of the versions not yet stored, ON CONFLICT only if it must.

    ON CONFLICT's speculative insertion costs more per row than a plain INSERT (docs/benchmarks.md).
    The anti-join drops versions already stored (a re-delivered run); only a version
    twice *within* the batch can still collide, and then the unique constraint raises,
    the savepoint undoes the attempt and the ON CONFLICT statement does the work. Either
    way the constraint, not this code, is what guarantees a version is stored once.
    """
    fact = staged.table
    cols = _ident_list(fact.column_names)
    # A version is (source id, last_updated, content): equal in every loaded column (all
    # NOT NULL), as the version constraint says; its index finds the rows of one id first.
    match = " AND ".join(f"f.{identifier(c)} = s.{identifier(c)}" for c in fact.column_names)
    con.run("SAVEPOINT load_bulk_insert")
    try:
        con.run(
            f"INSERT INTO public.{identifier(fact.name)} ({cols}) SELECT {cols} FROM {identifier(staged.staging)} AS s "  # noqa: S608  # nosec B608
            f"WHERE NOT EXISTS (SELECT 1 FROM public.{identifier(fact.name)} AS f WHERE {match})"
        )
    except pg8000.exceptions.DatabaseError as exc:
        if sqlstate(exc) != _UNIQUE_VIOLATION:
            raise
        con.run("ROLLBACK TO SAVEPOINT load_bulk_insert")
        return _insert_on_conflict(con, staged)
    inserted = con.row_count
    con.run("RELEASE SAVEPOINT load_bulk_insert")
    return inserted
