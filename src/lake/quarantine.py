"""Quarantine objects: the rows transform rejected, one JSON object per line.

``quarantine/<seq:010d>/<source_table>-<attempt>.jsonl`` in the processed bucket
(``lake.keys.quarantine_key``). A rejected row is never dropped silently (SPEC §3):
it is kept here with the table, run, source object, line, primary key (if it could
be read), the reason and the raw line. An object is *committed* when the transform
commit record of its run names it (``CommitRecord.quarantine``); any other is the
orphan of a failed attempt and was never counted.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

CONTENT_TYPE = "application/x-ndjson"


@dataclass(frozen=True)
class BadRow:
    """One rejected input row (or, with ``line_no`` None, a whole rejected object)."""

    table: str
    run_seq: int
    source_key: str | None
    line_no: int | None
    primary_key: int | None
    reason: str
    raw: str | None

    def to_doc(self) -> dict[str, Any]:
        return asdict(self)


def encode_records(rows: Iterable[BadRow]) -> bytes:
    """The body of a quarantine object."""
    return "".join(json.dumps(r.to_doc(), sort_keys=True) + "\n" for r in rows).encode()


def decode_records(lines: Iterable[str]) -> list[dict[str, Any]]:
    """The records of a quarantine object's lines, as documents (blank lines skipped).

    Documents, not ``BadRow``: an operator reading an old or hand-written object sees
    whatever it holds.
    """
    return [json.loads(line) for line in lines if line.strip()]
