"""Deletion versions (SPEC §2 "Deletion"): one more version of each fact row whose source row is gone.

A comparison run's commit record names, per fact, the source ids found deleted and when
(``lake.changes.Deletions``). For each id whose current version is not already a
deletion, this appends a copy of that current version (the last known values) with
``last_updated`` = the observation and ``is_deleted = true``; being the latest, it
becomes the current version, and the current-state views leave the id out.

The copy is made by the warehouse from its own current version (one INSERT ... SELECT),
so no lake history is read. Idempotent: re-applying finds the deletion version current
and inserts nothing; the version constraint would refuse a second copy anyway. An id
the warehouse never stored (its rows were quarantined) gets nothing.
"""

from __future__ import annotations

import datetime as dt

import pg8000.native
from pg8000.native import identifier

from common.observability import get_logger
from common.warehouse_tables import IS_DELETED, TABLES
from lake.changes import Deletions
from load import upsert

logger = get_logger("load")

_VERSION_TIME = ("last_updated_date", "last_updated_time")


def observed_moment(deletions: Deletions) -> dt.datetime:
    """The observation as a naive UTC datetime (the lake's ``...T10:00:00.000`` text, a ``Z`` tolerated)."""
    return dt.datetime.fromisoformat(deletions.observed_at.removesuffix("Z")).replace(tzinfo=None)


def load_deletions(con: pg8000.native.Connection, deletions: dict[str, Deletions]) -> dict[str, int]:
    """Append the deletion versions of every fact in ``deletions``; return versions written per fact."""
    moments = {name: observed_moment(d) for name, d in deletions.items() if d.ids}
    upsert.ensure_dates(con, {m.date() for m in moments.values()})
    written: dict[str, int] = {}
    for name, moment in moments.items():
        written[name] = _append_deletion_versions(con, name, deletions[name].ids, moment)
        logger.info(
            "deletion versions written",
            extra={"table": name, "rows": written[name], "found": len(deletions[name].ids)},
        )
    return written


def _append_deletion_versions(
    con: pg8000.native.Connection, name: str, ids: tuple[int, ...], moment: dt.datetime
) -> int:
    fact = TABLES[name]
    t, key, sk = identifier(fact.name), identifier(fact.key), identifier(fact.surrogate_key)
    kept = [c for c in fact.column_names if c not in _VERSION_TIME]
    cols = ", ".join(identifier(c) for c in (*kept, *_VERSION_TIME, IS_DELETED))
    picked = ", ".join(f"cur.{identifier(c)}" for c in kept)
    # Identifiers from the allow-list only; the ids and the moment are bound.
    con.run(
        f"INSERT INTO public.{t} ({cols}) "  # noqa: S608  # nosec B608
        f"SELECT {picked}, CAST(:day AS date), CAST(:clock AS time), true FROM ("
        f" SELECT DISTINCT ON (f.{key}) f.* FROM public.{t} AS f WHERE f.{key} = ANY(CAST(:ids AS integer[]))"
        f" ORDER BY f.{key}, f.last_updated_date DESC, f.last_updated_time DESC, f.{sk} DESC"
        f") AS cur WHERE NOT cur.{identifier(IS_DELETED)} "
        f"ON CONFLICT ON CONSTRAINT {identifier(fact.version_constraint)} DO NOTHING",
        ids=list(ids),
        day=moment.date().isoformat(),
        clock=moment.time().isoformat(),
    )
    return con.row_count
