"""``totes lake query --athena``: a question asked of a deployed pipeline's lake through Athena.

Athena reads the Glue catalogue ``terraform/lake_catalog.tf`` creates from ``ops.lake_catalog``
(the views ``lake.views`` defines, named as in the warehouse) and runs in the lake's
workgroup, whose settings are enforced: results encrypted in their own bucket, a
bytes-scanned cut-off. ``awswrangler.athena`` starts the query, waits, and reads the result
back; without CTAS (``ctas_approach=False``), because CTAS writes a temporary Glue table
and the analyst policy (``<name>-lake-analyst``) is read-only on the catalogue. Athena's
own SQL dialect is Trino's (``pipeline.`` schemas do not exist: every view is in the one
Glue database).
"""

from __future__ import annotations

import math
from typing import Any

import awswrangler as wr
import boto3
from botocore.exceptions import BotoCoreError, ClientError


class AthenaQueryError(RuntimeError):
    """The query failed or could not start (what Athena said, and in which workgroup and database)."""


def _plain(value: Any) -> Any:
    """A pandas cell as a Python value: numpy scalars unwrapped, missing values None (a NULL)."""
    if hasattr(value, "item"):  # numpy scalar
        value = value.item()
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return None if type(value).__name__ in {"NAType", "NaTType"} else value


def athena_query(
    sql: str, *, database: str, workgroup: str, session: boto3.Session
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run ``sql`` on Athena in ``workgroup`` with ``database`` as the default schema; columns and rows.

    Raises
    ------
    AthenaQueryError
        Athena refused or failed the query (syntax, permissions, the scan cut-off ...).
    """
    try:
        frame = wr.athena.read_sql_query(
            sql, database=database, workgroup=workgroup, ctas_approach=False, boto3_session=session
        )
    except (wr.exceptions.QueryFailed, wr.exceptions.QueryCancelled, ClientError, BotoCoreError) as exc:
        raise AthenaQueryError(f"Athena query failed (workgroup {workgroup}, database {database}): {exc}") from exc
    rows = [tuple(_plain(v) for v in row) for row in frame.itertuples(index=False, name=None)]
    return [str(c) for c in frame.columns], rows
