"""Apply the warehouse migrations to a deployed pipeline (``totes migrate --outputs``), or fold
its analytics summaries (``totes fold-summaries --outputs``): the load function's two actions.

The migrations ship in the load function's zip (``load.schema``), so the deployed load
function applies them: it is invoked with ``{"action": "migrate"}`` and does it from
inside the deployment's network, with its own role and the warehouse secret, over
verify-full TLS. ``make deploy`` runs this right after ``terraform apply``, so a new
migration is in place before the next scheduled load (which would otherwise stop with
``WarehouseSchemaError`` naming this command).

Where no Lambda runtime runs the code (the local stack, or moto through
``AWS_ENDPOINT_URL``), the handler the function names is called in this process with
the same event: the same code path the deployed function takes.

``{"action": "fold_summaries"}`` is sent the same way, synchronously: the operator sees
what the fold did (the pipeline itself sends it asynchronously, docs/dashboard.md "Upkeep").

``direct=True`` instead connects from this machine with the warehouse secret named in
the outputs (for a warehouse reachable from here, e.g. while the function cannot run).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from common.db import connect
from common.errors import PipelineError
from load.handler import FOLD_EVENT, MIGRATE_ACTION
from load.schema import applied_versions, migrate
from ops.runner import invoke_in_process
from ops.target import Target

MIGRATE_EVENT = {"action": MIGRATE_ACTION}


class LoadActionError(RuntimeError):
    """A load function action (migrate, fold_summaries) failed, or its answer is not that action's result."""


@dataclass(frozen=True)
class MigrateResult:
    """What a migration call did and how it got there."""

    applied: list[str]  # versions applied by this call (empty: already up to date)
    schema_versions: list[str] | None  # every applied version afterwards, when read directly
    via: str  # "lambda <name>", "in-process <name>" or "direct <host>"


def runs_lambda_code(target: Target) -> bool:
    """Whether the target's Lambda runs our code: real AWS, not the local stack nor moto."""
    return not target.is_local and not os.environ.get("AWS_ENDPOINT_URL")


def invoke_load_action(target: Target, event: dict[str, Any], doing: str) -> tuple[Any, str]:
    """Invoke the deployed load function with an action ``event``; its answer and how it ran.

    ``doing`` names the action in the error (``"migrate the warehouse"``).
    """
    function = str(target.output("load_function_name"))
    lambda_client = target.client("lambda")
    if not runs_lambda_code(target):
        try:
            answer = invoke_in_process(lambda_client, function, dict(event))
        except Exception as exc:  # any error of the handler, as Lambda would report it
            raise LoadActionError(f"the load function {function} failed to {doing}: {exc}") from exc
        return answer, f"in-process {function}"
    response = lambda_client.invoke(
        FunctionName=function, InvocationType="RequestResponse", Payload=json.dumps(event).encode()
    )
    payload = json.loads(response["Payload"].read() or b"null")
    if response.get("FunctionError"):
        detail = f"{payload.get('errorType')}: {payload.get('errorMessage')}" if isinstance(payload, dict) else payload
        raise LoadActionError(f"the load function {function} failed to {doing}: {detail}")
    return payload, f"lambda {function}"


def invoke_migration(target: Target) -> MigrateResult:
    """Invoke the deployed load function with ``{"action": "migrate"}`` and return its answer."""
    answer, via = invoke_load_action(target, MIGRATE_EVENT, "migrate the warehouse")
    return MigrateResult(_applied(answer, str(target.output("load_function_name"))), None, via)


def invoke_fold(target: Target) -> tuple[dict[str, Any], str]:
    """Invoke the deployed load function with ``{"action": "fold_summaries"}``; its answer and how it ran."""
    answer, via = invoke_load_action(target, FOLD_EVENT, "fold the analytics summaries")
    if not isinstance(answer, dict) or answer.get("action") != FOLD_EVENT["action"]:
        raise LoadActionError(f"the load function did not answer as a fold (is the deployed code older?): {answer!r}")
    return answer, via


def _applied(answer: Any, function: str) -> list[str]:
    if not isinstance(answer, dict) or answer.get("action") != MIGRATE_ACTION or "applied" not in answer:
        raise LoadActionError(f"{function} did not answer as a migration (is the deployed code older?): {answer!r}")
    return [str(v) for v in answer["applied"]]


def migrate_direct(target: Target) -> MigrateResult:
    """Connect from here with the target's warehouse credentials and apply the migrations."""
    creds = target.warehouse_credentials()
    con = connect(creds, "totes-migrate")
    try:
        applied = migrate(con)
        versions = sorted(applied_versions(con))
    except PipelineError as exc:
        raise LoadActionError(f"migrating the warehouse at {creds.host}:{creds.port} failed: {exc}") from exc
    finally:
        con.close()
    return MigrateResult(applied, versions, f"direct {creds.host}:{creds.port}")
