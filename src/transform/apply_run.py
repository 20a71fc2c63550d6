"""``apply_run``: transform ONE committed ingestion run into Parquet, given the state the previous run left.

Order inside a run (docs/transform.md): read and verify the dimension sources and
apply them to the state, parents first (``dimension_plan``), so every join and
foreign-key check sees this run's rows; stream the three facts block by block
(``fact_files``; the first fact object starts reading early, while the small
dimension objects wait on S3); build dim_date from the dates the facts referenced;
write every object (``run_writer``). Nothing is committed here: the caller
(``transform.run.run_transform``, which catches up on every pending run) writes the
commit record last, so a crash anywhere leaves only orphans.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field

from common.s3_store import LakeStore
from lake.commit_record import CommitRecord
from lake.keys import FX_RATES
from lake.manifest import IngestManifest
from transform.dim_date import build_dim_date
from transform.dimension_plan import DimensionPlan
from transform.fact_files import write_fact_files
from transform.facts import FACT_FEEDS
from transform.fx_rates import transform_fx_rates
from transform.reader import DEFAULT_BLOCK_BYTES
from transform.rejects import QuarantineLog
from transform.run_reader import RunReader
from transform.run_writer import write_run
from transform.snapshot import State


@dataclass
class RunOutput:
    """What one run produced: the commit record to write, the new state, and counts to report."""

    record: CommitRecord
    state: State
    rows_in: dict[str, int] = field(default_factory=dict)
    rows_out: dict[str, int] = field(default_factory=dict)
    quarantine: QuarantineLog | None = None


def apply_run(
    ingest: LakeStore,
    processed: LakeStore,
    manifest: IngestManifest,
    state: State,
    attempt: str,
    *,
    block_bytes: int = DEFAULT_BLOCK_BYTES,
) -> RunOutput:
    """Transform one ingestion run and write its Parquet, snapshots and quarantine objects.

    Parameters
    ----------
    ingest, processed : LakeStore
        The two buckets.
    manifest : IngestManifest
        The run's ingestion manifest.
    state : State
        The state the previous transform commit left (not modified; a copy is evolved).
    attempt : str
        This invocation's attempt id, part of every object key written.
    block_bytes : int
        Bytes of JSON lines parsed at once (bounds memory).

    Returns
    -------
    RunOutput
        The commit record to write (the caller writes it, last) and the new state.
    """
    started = time.perf_counter()
    state = state.copy()
    quarantine = QuarantineLog(run_seq=manifest.run_seq)
    reader = RunReader(ingest, manifest, quarantine, block_bytes)
    with tempfile.TemporaryDirectory(prefix="transform-") as workdir:
        try:
            reader.start_first(FACT_FEEDS)
            plan = DimensionPlan(reader, state, quarantine)
            outputs = plan.apply()
            facts = write_fact_files(reader, state.ids(), workdir)
        finally:
            reader.close()
        outputs["dim_date"] = build_dim_date(facts.referenced_dates())
        fx_rates = transform_fx_rates(ingest, processed, manifest, attempt, quarantine)
        record = write_run(
            processed, manifest, attempt, outputs=outputs, facts=facts, state=state, changed=plan.changed,
            quarantine=quarantine, started=started, fx_rates=fx_rates,
        )  # fmt: skip
    rows_out = {name: ref.rows for name, ref in record.tables.items()}
    if record.fx_rates is not None:
        rows_out[FX_RATES] = record.fx_rates.rows
    return RunOutput(record, state, dict(reader.rows_in), rows_out, quarantine)
