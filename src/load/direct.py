"""The direct fact load: a big batch COPYed straight into the fact table, each row written once.

The staging path (``staging`` + ``upsert.append_facts``) writes every fact row twice:
COPY into a temporary table, then INSERT ... SELECT into the fact. For a bulk-sized
batch this module instead, inside a SAVEPOINT of the run's transaction:

1. drops the fact's foreign keys and, when the batch is large next to the table
   (``INDEX_REBUILD_MAX_TABLE_RATIO``), its primary key and version unique constraint;
2. COPYs the Parquet straight into the fact (binary format where the table allows it),
   collecting the referenced dimension keys and dates on the way;
3. generates the missing dim_date members and inferred dimension members;
4. re-adds the constraints: the unique index is built in one sort, each foreign key is
   validated with one join.

Idempotency is still the unique constraint's: a version already stored, or twice in
the batch, makes the COPY (indexes kept) or the index build (indexes dropped) fail
with a unique violation; a NULL in a NOT NULL column fails the COPY too. Either way
the savepoint is rolled back (the dropped constraints come back with it) and the
caller loads the fact through the staging path, which skips stored versions and
quarantines bad rows. Constraints exist at every COMMIT, and all of it is one
transaction with the rest of the run.

Identifiers come from ``common.warehouse_tables`` (the allow-list) through
``identifier()``; catalog rows are only compared with it, never put into SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

import pg8000.exceptions
import pg8000.native
from pg8000.native import identifier

from common.observability import get_logger
from common.warehouse_tables import Kind, WarehouseTable
from load import binary_copy, upsert
from load.errors import NullInBatchError, ParquetSchemaError, ParquetStreamError, sqlstate
from load.staging import DEFAULT_BATCH_ROWS, CopySummary, copy_parquet, open_parquet

if TYPE_CHECKING:
    import pyarrow.parquet as pq

logger = get_logger("load")

# Drop and rebuild the two unique indexes while the fact holds fewer than this many
# times the batch's rows: maintaining both row by row costs more per COPYed row than
# one build costs per row in the table, up to an old:new ratio of a few (the numbers:
# docs/benchmarks.md, "Measurements behind the code"); 2 is on the safe side, since a
# build also writes the whole index anew.
INDEX_REBUILD_MAX_TABLE_RATIO = 2

# Room for the index builds' sorts and the foreign-key checks' hash tables (the FK
# check uses maintenance_work_mem as its work_mem) to stay in memory for a 1M-row batch.
MAINTENANCE_WORK_MEM = "256MB"

_SAVEPOINT = "load_direct_fact"
# The batch collides with a stored version, or itself (23505), or holds a NULL the
# fact does not allow (23502): the staging path handles both.
_FALL_BACK_SQLSTATES = {"23505", "23502"}


@dataclass(frozen=True)
class DirectLoad:
    """What a direct load of one fact did."""

    seen: CopySummary  # what was observed while copying straight into the fact
    inserted: int
    inferred: list[upsert.InferredMember]
    dates_generated: int
    indexes_rebuilt: bool
    binary: bool


@dataclass(frozen=True)
class _Unique:
    name: str
    primary: bool
    columns: tuple[str, ...]


def _expected_uniques(fact: WarehouseTable) -> set[_Unique]:
    return {
        _Unique(f"{fact.name}_pkey", True, (fact.surrogate_key,)),
        _Unique(fact.version_constraint, False, fact.version_columns),
    }


def rebuildable_uniques(con: pg8000.native.Connection, fact: WarehouseTable) -> set[_Unique] | None:
    """The fact's PK and version constraint if they are exactly the migrations' (001, 005), else None.

    Anything else (another index, a deferrable constraint, a column added by hand) would
    not be rebuilt faithfully from the allow-list, so the indexes are then left alone.
    """
    rows = con.run(
        "SELECT c.conname, c.contype, c.condeferrable,"
        " array(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY AS k(n, i)"
        "       JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i),"
        " (SELECT count(*) FROM pg_index i WHERE i.indrelid = c.conrelid) "
        "FROM pg_constraint c WHERE c.conrelid = to_regclass(:t) AND c.contype IN ('p', 'u')",
        t=f"public.{fact.name}",
    )
    found = set()
    for name, kind, deferrable, columns, indexes in rows:
        if deferrable or indexes != 2:
            return None
        found.add(_Unique(name, kind == "p", tuple(columns)))
    return found if found == _expected_uniques(fact) else None


def wanted(con: pg8000.native.Connection, fact: WarehouseTable, rows: int) -> bool:
    """Whether a batch of ``rows`` is big enough for the direct path (the bulk-mode threshold)."""
    return fact.kind is Kind.FACT and upsert.bulk_sized(con, fact, rows)


def reserve_surrogate_keys(con: pg8000.native.Connection, fact: WarehouseTable, count: int) -> int | None:
    """Take ``count`` consecutive values of the fact's serial sequence at once; return the first.

    Why: the column default calls nextval() once per row, a measurable share of the
    load (docs/benchmarks.md); one setval() does the same for the whole batch. Only
    the loader inserts into a fact (advisory lock; the direct path also holds the
    fact's ACCESS EXCLUSIVE lock), and were anyone else to draw from the sequence
    meanwhile, the primary key would reject the clash and the run falls back.
    Like nextval(), the reservation is not undone by a rollback: at worst a gap.
    """
    if count <= 0:
        return None
    last = con.run(
        "SELECT setval(s, nextval(s) + :n - 1) FROM CAST(pg_get_serial_sequence(:t, :c) AS regclass) AS s",
        t=f"public.{fact.name}",
        c=fact.surrogate_key,
        n=count,
    )[0][0]
    return int(last) - count + 1


def load_fact_direct(
    con: pg8000.native.Connection,
    fact: WarehouseTable,
    source: BinaryIO,
    run_seq: int,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> DirectLoad | None:
    """COPY one fact's Parquet straight into the fact table; None if the staging path must do it.

    Must run inside the run's transaction. None means nothing of this attempt is left
    (the savepoint was rolled back): the batch holds a version already stored or twice,
    or a NULL in a NOT NULL column, or the fact's constraints are not the ones this
    module knows how to recreate.

    Raises
    ------
    ParquetSchemaError
        The file is not Parquet of the contract's schema (as ``stage_parquet``).
    pg8000.exceptions.DatabaseError
        Any other database error; the run's transaction must be rolled back.
    """
    fks = upsert.bulk_foreign_keys(con, fact)
    if fks is None:
        return None
    parquet = open_parquet(fact, source)
    uniques = None
    if upsert.existing_rows(con, fact) < parquet.metadata.num_rows * INDEX_REBUILD_MAX_TABLE_RATIO:
        uniques = rebuildable_uniques(con, fact)
    con.run("SAVEPOINT " + _SAVEPOINT)
    try:
        done = _copy_into_fact(con, fact, parquet, fks, uniques, run_seq, batch_rows)
    except (pg8000.exceptions.DatabaseError, ParquetStreamError) as exc:
        if not _falls_back(exc):
            raise
        con.run("ROLLBACK TO SAVEPOINT " + _SAVEPOINT)
        con.run("RELEASE SAVEPOINT " + _SAVEPOINT)
        logger.info(
            "direct fact load fell back to the staging path",
            extra={"table": fact.name, "run_seq": run_seq, "reason": _reason(exc)},
        )
        return None
    con.run("RELEASE SAVEPOINT " + _SAVEPOINT)
    return done


def _copy_into_fact(
    con: pg8000.native.Connection,
    fact: WarehouseTable,
    parquet: pq.ParquetFile,
    fks: list[upsert.ForeignKey],
    uniques: set[_Unique] | None,
    run_seq: int,
    batch_rows: int,
) -> DirectLoad:
    """Inside the savepoint: drop the constraints, COPY, dates and inferred members, re-add the constraints."""
    binary = binary_copy.supports_binary(fact)
    target = f"public.{identifier(fact.name)}"
    # SET LOCAL lasts until the run's COMMIT (or this savepoint's rollback); index
    # builds and FK checks are all that use it in this transaction.
    con.run("SELECT set_config('maintenance_work_mem', :v, true)", v=MAINTENANCE_WORK_MEM)
    upsert.drop_foreign_keys(con, fact, fks)
    for unique in sorted(uniques or (), key=lambda u: u.name):
        con.run(f"ALTER TABLE {target} DROP CONSTRAINT {identifier(unique.name)}")
    seen = CopySummary(table=fact)
    reserved = parquet.metadata.num_rows
    first_id = reserve_surrogate_keys(con, fact, reserved) if binary else None
    copy_parquet(con, parquet, seen, target, batch_rows, binary=binary, first_id=first_id)
    if first_id is not None and seen.rows != reserved:
        # Keys beyond the reserved block would collide with a later nextval().
        raise ParquetSchemaError(f"{fact.name}: {seen.rows} rows streamed, the Parquet footer says {reserved}")
    inserted = con.row_count
    dates = upsert.ensure_dates(con, seen.dates())  # type: ignore[arg-type]
    inferred = upsert.infer_missing_members(con, fact, target, run_seq, first_id)
    # Primary key first: the version index is the bigger sort, and fails on a duplicate.
    for unique in sorted(uniques or (), key=lambda u: not u.primary):
        kind = "PRIMARY KEY" if unique.primary else "UNIQUE"
        con.run(
            f"ALTER TABLE {target} ADD CONSTRAINT {identifier(unique.name)} "
            f"{kind} ({', '.join(identifier(c) for c in unique.columns)})"
        )
    upsert.add_foreign_keys(con, fact, fks)
    return DirectLoad(seen, inserted, inferred, dates, indexes_rebuilt=uniques is not None, binary=binary)


def _falls_back(exc: BaseException) -> bool:
    if isinstance(exc, ParquetStreamError):
        return isinstance(exc.cause, NullInBatchError)
    return sqlstate(exc) in _FALL_BACK_SQLSTATES


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ParquetStreamError):
        return f"NULL in the batch: {exc.cause}"
    detail = exc.args[0] if exc.args else None
    return f"{sqlstate(exc)}: {detail.get('M') if isinstance(detail, dict) else exc}"
