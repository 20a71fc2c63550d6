"""Rebuild the warehouse, or re-apply a range of runs, without touching a lake object.

Two ways, both ending with the load stage's own sweep (``{}`` event: apply every
pending run in order, docs/architecture.md) and its fold of the analytics summaries
(``{"action": "fold_summaries"}``, which a load run here does not request itself):

* ``retransform`` (the default for a full rebuild): re-transform every ingest run from
  the immutable ingest bucket into a new processed *generation* — a new, empty
  processed bucket — and load from it. Nothing in either existing bucket is written or
  overwritten; transform's own catch-up (every ingest run without a commit record in
  its processed bucket) does the work. Later scheduled runs keep using the configured
  processed bucket: run N+1's transform reads commit N's snapshots there, and the
  ledger's run numbers are the same in every generation, so the two stay consistent.
* ``reload``: re-apply the processed runs already committed (no transform), e.g. after
  the warehouse was emptied, or ``--from-run N`` to re-apply runs N.. (facts are
  idempotent on their version key; dimensions end at their latest value because runs
  are applied in order).

The star tables (and the ledger rows concerned) are cleared first; the CLI asks for
``--yes`` because this empties the warehouse that analysts read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pg8000.native

from common.warehouse_tables import LOAD_ORDER
from load.handler import FOLD_EVENT
from ops.runner import invoke_in_process
from ops.status import ledger_columns

# Every star table, facts included: a replay clears them all before reloading.
STAR_TABLES: tuple[str, ...] = LOAD_ORDER


class ReplayError(RuntimeError):
    """A replay cannot be done as asked (bad range, unknown ledger, stage failure)."""


@dataclass
class ReplayResult:
    """What a replay did."""

    mode: str
    processed_bucket: str
    from_run: int | None
    results: dict[str, Any]


def clear_warehouse(warehouse: pg8000.native.Connection, *, from_run: int | None = None) -> None:
    """Empty the star tables and the ledger (all of it, or runs >= ``from_run`` only).

    With ``from_run`` the star tables are kept: re-applied runs only add what is missing
    (fact versions are unique) and upsert dimensions.
    """
    has_ledger = "run_seq" in ledger_columns(warehouse)
    warehouse.run("BEGIN")
    try:
        if from_run is None:
            tables = ", ".join(pg8000.native.identifier(t) for t in STAR_TABLES)
            warehouse.run(f"TRUNCATE {tables} RESTART IDENTITY")
            if has_ledger:
                warehouse.run("TRUNCATE pipeline.load_ledger")
        elif has_ledger:
            warehouse.run("DELETE FROM pipeline.load_ledger WHERE run_seq >= :n", n=from_run)
        else:
            raise ReplayError("the warehouse has no pipeline.load_ledger with run_seq: cannot re-apply a range")
        warehouse.run("COMMIT")
    except BaseException:
        warehouse.run("ROLLBACK")
        raise


def invoke_sweep(lambda_client: Any, function: str, overrides: dict[str, str] | None = None) -> Any:
    """Call a deployed function's handler here with the sweep event ``{}``.

    ``overrides`` win over the function's configured environment (used to point
    transform and load at a new processed generation).
    """
    return invoke_in_process(lambda_client, function, {}, overrides)


def new_generation_bucket(s3: Any, processed_bucket: str, region: str | None) -> str:
    """Create an empty, versioned processed bucket for a re-transform; return its name."""
    name = f"{processed_bucket}-gen-{datetime.now(UTC):%Y%m%d%H%M%S}"[:63]
    kwargs: dict[str, Any] = {"Bucket": name}
    if region and region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(**kwargs)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


def replay(
    *,
    warehouse: pg8000.native.Connection,
    lambda_client: Any,
    s3: Any,
    processed_bucket: str,
    transform_function: str,
    load_function: str,
    mode: str = "retransform",
    from_run: int | None = None,
    region: str | None = None,
) -> ReplayResult:
    """Clear the warehouse (or a range of runs) and rebuild it through the stages' own code.

    Parameters
    ----------
    warehouse
        Warehouse connection (owner of the star tables).
    lambda_client, s3
        Clients of the account; the handlers named by the deployed functions run here.
    processed_bucket
        The configured processed bucket.
    transform_function, load_function
        Deployed function names (their Handler and environment are used).
    mode
        ``"retransform"`` (new processed generation from the ingest bucket) or ``"reload"``.
    from_run
        Re-apply runs from this one on (``reload`` only); None rebuilds everything.
    region
        Region for a new generation bucket.
    """
    if mode not in {"retransform", "reload"}:
        raise ReplayError(f"unknown replay mode {mode!r}")
    if mode == "retransform" and from_run is not None:
        raise ReplayError("a range of runs is re-applied with mode 'reload' (retransform rebuilds everything)")
    bucket = processed_bucket
    results: dict[str, Any] = {}
    if mode == "retransform":
        bucket = new_generation_bucket(s3, processed_bucket, region)
        results["transform"] = invoke_sweep(lambda_client, transform_function, {"PROCESSED_BUCKET": bucket})
    clear_warehouse(warehouse, from_run=from_run)
    results["load"] = invoke_sweep(lambda_client, load_function, {"PROCESSED_BUCKET": bucket})
    results["fold"] = invoke_in_process(lambda_client, load_function, dict(FOLD_EVENT))
    return ReplayResult(mode, bucket, from_run, results)
