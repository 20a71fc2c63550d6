"""An exchange-rate run's rates: verified, checked, the good ones to Parquet, the rejected ones to quarantine.

The run's ``data/fx_rate/...`` object (``lake.fx_rates.RateLine`` lines) is small (a few
lines per date), so it is read whole. It must hash to the manifest's sha256, or it is
quarantined whole. A line ingestion rejected (``reject_reason``: a malformed document,
an unknown code, a non-positive or implausible rate) goes to quarantine with that
reason, as does a line this stage cannot read; the warehouse then keeps the previous
good rate. The good rates become ``tables/fx_rate/<seq>-<attempt>.parquet`` with
``lake.fx_rates.SCHEMA``: exact decimals (``Decimal`` from the text, never a float),
rounded half-even to ``RATE_SCALE`` places.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import zlib
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

import pyarrow as pa

from common.s3_store import LakeStore
from lake.commit_record import ObjectRef
from lake.fx_rates import RATE_PRECISION, RATE_SCALE, SCHEMA, decode_lines
from lake.keys import FX_RATES, table_key
from lake.manifest import IngestManifest
from lake.quarantine import BadRow
from transform.rejects import QuarantineLog
from transform.snapshot import write_parquet

_CODE = re.compile(r"^[A-Z]{3}$")
_QUANTUM = Decimal(1).scaleb(-RATE_SCALE)
_MAX_RATE = Decimal(10) ** (RATE_PRECISION - RATE_SCALE)


def rate_row(doc: Any) -> dict[str, Any]:
    """One good line as a Parquet row; ``ValueError`` naming the problem if it is not one."""
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    code, base, source = doc.get("currency_code"), doc.get("base_currency"), doc.get("source")
    if not isinstance(code, str) or not _CODE.match(code) or not isinstance(base, str) or not _CODE.match(base):
        raise ValueError(f"currency codes {code!r}/{base!r} are not ISO 4217")
    if not isinstance(source, str) or not isinstance(doc.get("rate"), str):
        raise ValueError("rate and source must be text")
    try:
        rate = Decimal(doc["rate"]).quantize(_QUANTUM, rounding=ROUND_HALF_EVEN)
    except InvalidOperation as exc:
        raise ValueError(f"rate {doc['rate']!r} is not a decimal number") from exc
    if not rate.is_finite() or not 0 < rate < _MAX_RATE:
        raise ValueError(f"rate {doc['rate']!r} is outside (0, {_MAX_RATE}) at {RATE_SCALE} decimal places")
    day = date.fromisoformat(str(doc.get("rate_date")))
    return {"rate_date": day, "currency_code": code, "rate": rate, "base_currency": base, "source": source}


def transform_fx_rates(
    ingest: LakeStore, processed: LakeStore, manifest: IngestManifest, attempt: str, quarantine: QuarantineLog
) -> ObjectRef | None:
    """Write the run's good rates as Parquet and quarantine the rest; None for a run without rates."""
    entry = manifest.fx_rates
    if entry is None:
        return None
    if entry.key is None:
        return ObjectRef(None, 0)
    seq = manifest.run_seq
    body = ingest.get_bytes(entry.key)
    if hashlib.sha256(body).hexdigest() != entry.sha256:
        reason = "object rejected: sha256 differs from the manifest's (the object changed after ingestion)"
        quarantine.add([BadRow(FX_RATES, seq, entry.key, None, None, reason, None)])
        return ObjectRef(None, 0)
    try:
        docs = decode_lines(body)
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile, ValueError) as exc:
        quarantine.add([BadRow(FX_RATES, seq, entry.key, None, None, f"object rejected: unreadable ({exc})", None)])
        return ObjectRef(None, 0)
    rows: list[dict[str, Any]] = []
    bad: list[BadRow] = []
    for line_no, doc in enumerate(docs, start=1):
        raw = json.dumps(doc, sort_keys=True)
        why = doc.get("reject_reason") if isinstance(doc, dict) else None
        if why:
            bad.append(BadRow(FX_RATES, seq, entry.key, line_no, None, str(why), raw))
            continue
        try:
            rows.append(rate_row(doc))
        except (ValueError, TypeError) as exc:
            bad.append(BadRow(FX_RATES, seq, entry.key, line_no, None, f"invalid rate line: {exc}", raw))
    quarantine.add(bad)
    if not rows:
        return ObjectRef(None, 0)
    key = table_key(FX_RATES, seq, attempt)
    write_parquet(processed, key, pa.Table.from_pylist(rows, schema=SCHEMA))
    return ObjectRef(key, len(rows))
