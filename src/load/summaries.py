"""The analytics app's summaries (docs/dashboard.md): when the load folds a run into them.

A small run is folded inside its own transaction (``fold_in_run``), so the summaries
commit with the facts they summarise. A big one (a first load, a long backlog) would
slow the run's commit by more than the load itself costs, so its facts commit first and
``fold_after_commit`` folds them right after, in a transaction of its own. The summaries
are stamped with the run they include (``analytics.summary_state.run_seq``); the app
reads the facts only as far as the summaries go and says when they trail the load. If
the process dies between the two commits, the stamp stays behind the ledger and the
next load folds what is missing (``fold_missing``). Every fold runs under the load lock.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

import pg8000.exceptions
import pg8000.native

from common.observability import get_logger
from load.ledger import last_loaded_seq

logger = get_logger("load")

# Fact rows not yet folded from which the fold waits for the run's commit. A fold from zero
# costs about as much backend CPU as loading its rows (docs/benchmarks.md, "The first fold's
# cost (migration 016)"): under a second of a run's transaction at this size; a cycle's batch
# is hundreds of rows.
AFTER_COMMIT_ROWS = 100_000


@dataclass(frozen=True)
class FoldPolicy:
    """When the load folds, and when a fold rebuilds a fact's summaries instead of merging.

    ``after_commit_rows``: fold after the run's commit from this many unfolded fact rows
    (None: always inside the run's transaction, as before migration 011).
    ``rebuild_at``: rebuild a fact's summaries from zero when its unfolded rows are at
    least this many times its folded ones (``float('inf')``: never; 0: always).
    """

    after_commit_rows: int | None = AFTER_COMMIT_ROWS
    rebuild_at: float = 1.0


# Rows the summaries have not folded yet, over the three facts (surrogate keys as counts).
UNFOLDED_SQL = """
SELECT coalesce((SELECT max(sales_record_id) FROM public.fact_sales_order), 0)
     + coalesce((SELECT max(purchase_record_id) FROM public.fact_purchase_order), 0)
     + coalesce((SELECT max(payment_record_id) FROM public.fact_payment), 0)
     - (SELECT sum(last_record_id) FROM analytics.summary_state)
"""


def fold_in_run(con: pg8000.native.Connection, run_seq: int, policy: FoldPolicy) -> bool:
    """Inside run ``run_seq``'s transaction: fold now unless the run is big; True if folded."""
    if policy.after_commit_rows is not None:
        unfolded = int(con.run(UNFOLDED_SQL)[0][0])
        if unfolded >= policy.after_commit_rows:
            logger.info("summaries folded after the run's commit", extra={"run_seq": run_seq, "rows": unfolded})
            return False
    _refresh(con, run_seq, policy)
    return True


def fold_after_commit(con: pg8000.native.Connection, run_seq: int, policy: FoldPolicy) -> None:
    """Fold everything the summaries lack, through run ``run_seq``, in a transaction of its own."""
    started = time.perf_counter()
    con.run("BEGIN")
    try:
        _refresh(con, run_seq, policy)
        con.run("COMMIT")
    except BaseException:
        with contextlib.suppress(pg8000.exceptions.Error, OSError):  # a dead connection has rolled back
            con.run("ROLLBACK")
        raise
    logger.info(
        "summaries folded",
        extra={"run_seq": run_seq, "duration_ms": int((time.perf_counter() - started) * 1000)},
    )


def summaries_run(con: pg8000.native.Connection) -> int | None:
    """The last load run the summaries include (None before the first)."""
    return con.run("SELECT min(run_seq) FROM analytics.summary_state")[0][0]


def fold_missing(con: pg8000.native.Connection, policy: FoldPolicy) -> int | None:
    """Fold the runs the summaries lack (a fold cut off after its run's commit); the run folded through, if any."""
    last = last_loaded_seq(con)
    stamp = summaries_run(con)
    if last == 0 or (stamp is not None and stamp >= last):
        return None
    logger.warning(
        "the summaries lack committed runs; folding them now", extra={"summaries_run": stamp, "run_seq": last}
    )
    fold_after_commit(con, last, policy)
    return last


def _refresh(con: pg8000.native.Connection, run_seq: int, policy: FoldPolicy) -> None:
    con.run(
        "SELECT analytics.refresh_summaries(:run, CAST(:rebuild AS real))",
        run=run_seq,
        rebuild=str(policy.rebuild_at) if policy.rebuild_at != float("inf") else "Infinity",
    )
