"""The analytics app's summaries (docs/dashboard.md): the fold, an invocation of its own.

``run_load`` only loads facts; ``fold_pending`` folds into the summaries everything they
lack, through the last loaded run, in a transaction of its own, under the load lock. The
load Lambda runs it on ``{"action": "fold_summaries"}``, which a load that committed runs
sends to its own function (``load.handler``); one machine's pipeline (``ops.runner``) and
``totes fold-summaries`` call it right after the load. Like a materialized view refreshed
asynchronously: the summaries are stamped with the run they include
(``analytics.summary_state.run_seq``), the app reads the facts only as far as the
summaries go and says when they trail the load. A fold that fails rolls back and leaves
the facts as loaded; the next one folds everything still pending.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

import pg8000.exceptions
import pg8000.native

from common.observability import get_logger
from load.errors import SummaryFoldError
from load.ledger import last_loaded_seq
from load.lock import load_lock

logger = get_logger("load")

_DB_ERRORS = (pg8000.exceptions.Error, OSError)


@dataclass(frozen=True)
class FoldPolicy:
    """When a fold rebuilds a fact's summaries instead of merging into them.

    ``rebuild_at``: rebuild a fact's summaries from zero when its unfolded rows are at
    least this many times its folded ones (``float('inf')``: never; 0: always).
    """

    rebuild_at: float = 1.0


@dataclass(frozen=True)
class FoldResult:
    """What one ``fold_pending`` call did."""

    lock_acquired: bool
    summaries_run: int | None  # the run the summaries included before (None: never folded)
    folded_through: int | None = None  # the run folded through; None: nothing was pending (or no lock)
    duration_ms: int = 0

    @property
    def runs_folded(self) -> int:
        """How many runs this fold added to the summaries (0 when nothing was pending)."""
        return 0 if self.folded_through is None else self.folded_through - (self.summaries_run or 0)

    def summary(self) -> dict[str, object]:
        """A small JSON-able summary (the fold action's return value)."""
        return {
            "lock_acquired": self.lock_acquired,
            "summaries_run": self.summaries_run,
            "folded_through": self.folded_through,
            "duration_ms": self.duration_ms,
        }


def summaries_run(con: pg8000.native.Connection) -> int | None:
    """The last load run the summaries include (None before the first)."""
    return con.run("SELECT min(run_seq) FROM analytics.summary_state")[0][0]


def fold_pending(
    con: pg8000.native.Connection, policy: FoldPolicy | None = None, *, lock_wait_seconds: float = 60.0
) -> FoldResult:
    """Fold everything the summaries lack, through the last loaded run, in one transaction of its own.

    Parameters
    ----------
    con
        A pg8000 connection to the warehouse as the loader role, not in a transaction.
    policy
        When a fact's summaries are rebuilt from zero rather than merged (``FoldPolicy``).
    lock_wait_seconds
        How long to wait for the load lock. A loader holding it requests a fold of its own
        when it commits, and a fold holding it folds what is pending: giving up is safe.

    Raises
    ------
    SummaryFoldError
        The database failed or refused the fold; it was rolled back, the facts stay
        loaded, and the next fold starts from the same stamp.
    """
    try:
        with load_lock(con, lock_wait_seconds) as acquired:
            if not acquired:
                logger.warning("another loader or fold holds the load lock; leaving the fold to it")
                return FoldResult(False, None)
            return _fold(con, policy or FoldPolicy())
    except _DB_ERRORS as exc:
        raise SummaryFoldError(f"the summaries' fold failed and was rolled back: {exc}") from exc


def _fold(con: pg8000.native.Connection, policy: FoldPolicy) -> FoldResult:
    last = last_loaded_seq(con)
    stamp = summaries_run(con)
    if last == 0 or (stamp is not None and stamp >= last):
        logger.info("the summaries are current", extra={"summaries_run": stamp, "run_seq": last})
        return FoldResult(True, stamp)
    started = time.perf_counter()
    con.run("BEGIN")
    try:
        con.run(
            "SELECT analytics.refresh_summaries(:run, CAST(:rebuild AS real))",
            run=last,
            rebuild=str(policy.rebuild_at) if policy.rebuild_at != float("inf") else "Infinity",
        )
        con.run("COMMIT")
    except BaseException:
        with contextlib.suppress(*_DB_ERRORS):  # a dead connection has rolled back
            con.run("ROLLBACK")
        raise
    duration_ms = int((time.perf_counter() - started) * 1000)
    logger.info("summaries folded", extra={"summaries_run": stamp, "run_seq": last, "duration_ms": duration_ms})
    return FoldResult(True, stamp, last, duration_ms)
