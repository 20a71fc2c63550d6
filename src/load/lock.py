"""One loader at a time: a PostgreSQL session advisory lock around the whole catch-up.

Lambda may run several load invocations at once (an S3 event and the scheduled
sweep, or a duplicate event). The lock serialises them in the database itself, so
correctness does not depend on reserved concurrency. It is a *session* lock, held
across the per-run transactions, and the server releases it if the connection dies.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pg8000.exceptions
import pg8000.native

from common.observability import get_logger
from load.errors import sqlstate

logger = get_logger("load")

# Any constant shared by every loader of this warehouse (load.schema's migrator uses 7_130_001).
LOAD_LOCK_KEY = 7_130_005
_LOCK_NOT_AVAILABLE = "55P03"  # SQLSTATE of lock_timeout expiring


@contextmanager
def load_lock(con: pg8000.native.Connection, wait_seconds: float) -> Iterator[bool]:
    """Hold the load lock for the ``with`` block; yield False if it stayed busy for ``wait_seconds``.

    A waiter blocks rather than giving up at once: the holder may be loading runs
    committed before the waiter's trigger, and the waiter must then load its own.
    Giving up after ``wait_seconds`` is safe because the holder re-lists pending runs
    until none is left, and the scheduled sweep picks up anything still pending.
    """
    previous = con.run("SELECT current_setting('lock_timeout')")[0][0]
    con.run("SELECT set_config('lock_timeout', :v, false)", v=f"{max(1, int(wait_seconds * 1000))}ms")
    try:
        con.run("SELECT pg_advisory_lock(:k)", k=LOAD_LOCK_KEY)
    except pg8000.exceptions.DatabaseError as exc:
        if sqlstate(exc) != _LOCK_NOT_AVAILABLE:
            raise
        con.run("SELECT set_config('lock_timeout', :v, false)", v=previous)
        yield False
        return
    # The runs' own statements (the bulk-mode DDL, say) must not inherit the wait limit.
    con.run("SELECT set_config('lock_timeout', :v, false)", v=previous)
    try:
        yield True
    except BaseException:
        _unlock_after_failure(con)
        raise
    con.run("SELECT pg_advisory_unlock(:k)", k=LOAD_LOCK_KEY)


def _unlock_after_failure(con: pg8000.native.Connection) -> None:
    """Release the lock while another exception propagates, without masking it.

    If the connection is gone the server has already released the session's locks,
    so a failure here is logged, and the original exception stays the one raised.
    """
    try:
        con.run("SELECT pg_advisory_unlock(:k)", k=LOAD_LOCK_KEY)
    except (pg8000.exceptions.Error, OSError) as exc:
        logger.warning(
            "advisory unlock failed after an error; the server frees it with the session", extra={"error": repr(exc)}
        )
