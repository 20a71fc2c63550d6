"""Ingestion's state parameters in SSM Parameter Store (docs/architecture.md, "Ingestion state").

``<prefix>/ingestion/last_run_seq`` holds the last committed run sequence id and
``<prefix>/ingestion/watermarks`` the JSON ``{table: watermark}`` of that run. The
manifest is the commit point and these mirror it; terraform/ssm.tf creates them with
the initial values below.
"""

from __future__ import annotations

LAST_RUN_SEQ = "ingestion/last_run_seq"
WATERMARKS = "ingestion/watermarks"
# The key of the newest exchange-rate state object (lake.keys.fx_state_key). Written by the
# pipeline after a rates run commits; absent until the first one (then every rate is fetched).
FX_RATES_STATE = "ingestion/fx_rates_state"

# The cursors of first snapshots under way in key ranges (JSON {table: {bound, from_id, rows,
# runs}}, ``lake.manifest.SnapshotCursor``): a mirror of the newest manifest's, written after it
# commits, like the two above; absent until the first run ("{}" once no snapshot is under way).
SNAPSHOT_CURSORS = "ingestion/snapshot_cursors"

# What a pipeline that never ran holds (terraform/ssm.tf creates the parameters with these).
INITIAL_VALUES: dict[str, str] = {LAST_RUN_SEQ: "0", WATERMARKS: "{}"}


def parameter_name(prefix: str, leaf: str) -> str:
    """The full name of parameter ``leaf`` (``LAST_RUN_SEQ``, ``WATERMARKS``) under ``prefix`` (``/totes/dev``)."""
    return f"{prefix.rstrip('/')}/{leaf}"


def last_run_seq_name(prefix: str) -> str:
    return parameter_name(prefix, LAST_RUN_SEQ)


def watermarks_name(prefix: str) -> str:
    return parameter_name(prefix, WATERMARKS)


def fx_rates_state_name(prefix: str) -> str:
    return parameter_name(prefix, FX_RATES_STATE)


def snapshot_cursors_name(prefix: str) -> str:
    return parameter_name(prefix, SNAPSHOT_CURSORS)
