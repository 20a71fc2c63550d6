"""Ingestion state: the SSM parameters and the roll-forward over committed manifests.

SSM holds ``<prefix>/ingestion/last_run_seq``, ``<prefix>/ingestion/watermarks`` and
``<prefix>/ingestion/snapshot_cursors`` (docs/architecture.md). The manifest is the
commit point and SSM is updated right after it, so after a crash SSM can be *behind*
the lake, never ahead. A run therefore starts from the newest manifest at or after SSM's ``last_run_seq`` and takes the
watermarks from that manifest: the manifest holds run seq, watermarks and the
recent-keys set in one atomic object, whereas the two SSM parameters cannot be
written atomically (a crash between them, or two overlapping runs, could pair one
run's seq with another's watermarks).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ingestion.errors import CorruptStateError, StateError
from ingestion.watermarks import validate_watermarks
from lake import ssm as names
from lake.changes import CompareState
from lake.keys import committed_runs
from lake.manifest import IngestManifest, SnapshotCursor, cursors_doc, read_manifest

if TYPE_CHECKING:
    from common.s3_store import LakeStore


@dataclass(frozen=True)
class SsmState:
    """The two SSM parameters as read at the start of a run."""

    last_run_seq: int
    watermarks: dict[str, str]


def _get(ssm: Any, name: str) -> str:
    try:
        return str(ssm.get_parameter(Name=name)["Parameter"]["Value"])
    except Exception as exc:  # botocore ParameterNotFound, throttling, access denied: cannot run without state
        raise StateError(f"cannot read SSM parameter {name}: {exc}") from exc


def read_last_run_seq(ssm: Any, prefix: str) -> int:
    """``last_run_seq`` from SSM (uncached: every call is a GetParameter)."""
    name = names.last_run_seq_name(prefix)
    raw = _get(ssm, name)
    try:
        seq = int(raw)
    except ValueError as exc:
        raise CorruptStateError(f"SSM parameter {name} is not an integer: {raw!r}") from exc
    if seq < 0:
        raise CorruptStateError(f"SSM parameter {name} is negative: {seq}")
    return seq


def read_state(ssm: Any, prefix: str) -> SsmState:
    """Both SSM parameters; StateError if either is missing or malformed."""
    seq = read_last_run_seq(ssm, prefix)
    name = names.watermarks_name(prefix)
    raw = _get(ssm, name)
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise CorruptStateError(f"SSM parameter {name} is not JSON: {exc}") from exc
    return SsmState(last_run_seq=seq, watermarks=validate_watermarks(doc))


def write_state(
    ssm: Any, prefix: str, run_seq: int, watermarks: dict[str, str], cursors: dict[str, SnapshotCursor]
) -> bool:
    """Record a committed run in SSM: watermarks and snapshot cursors first, then ``last_run_seq``.

    Never moves SSM backwards: if SSM already names ``run_seq`` or a later run (a
    concurrent run got there first), nothing is written and False is returned. The
    remaining race (two runs passing the check together) can only leave SSM behind a
    manifest, which the next run's roll-forward repairs.
    """
    if read_last_run_seq(ssm, prefix) >= run_seq:
        return False
    try:
        ssm.put_parameter(
            Name=names.watermarks_name(prefix),
            Value=json.dumps(dict(sorted(watermarks.items())), separators=(",", ":")),
            Type="String",
            Overwrite=True,
        )
        ssm.put_parameter(
            Name=names.snapshot_cursors_name(prefix),
            Value=json.dumps(cursors_doc(cursors), separators=(",", ":")),
            Type="String",
            Overwrite=True,
        )
        ssm.put_parameter(Name=names.last_run_seq_name(prefix), Value=str(run_seq), Type="String", Overwrite=True)
    except Exception as exc:  # the manifest is committed; the next run rolls SSM forward
        raise StateError(f"run {run_seq} is committed but SSM could not be updated: {exc}") from exc
    return True


def publish_state(store: LakeStore, ssm: Any, prefix: str, manifest: IngestManifest) -> int:
    """Record committed run ``manifest`` in SSM, then converge on the newest manifest.

    SSM has no compare-and-set, so a run overtaken between its check and its puts
    (``write_state``) could still move SSM back. Looking for later manifests *after*
    writing closes that: whoever writes last re-writes the newest manifest's state.

    Returns
    -------
    int
        The run sequence id SSM names afterwards.
    """
    write_state(ssm, prefix, manifest.run_seq, manifest.watermarks, manifest.snapshot_cursors)
    later = tuple(committed_runs(store, after=manifest.run_seq))
    if later:
        newest = _read_manifest(store, later[-1])
        if newest is not None:
            write_state(ssm, prefix, later[-1], newest.watermarks, newest.snapshot_cursors)
            return later[-1]
    return manifest.run_seq


@dataclass(frozen=True)
class Previous:
    """The last committed run, which this run continues from.

    Attributes
    ----------
    run_seq
        Its sequence id (0: no run ever committed).
    watermarks
        The watermarks after it (from its manifest; from SSM if there is no manifest).
    recent_keys
        Key of its recent-keys object (None: none, so no look-back dedup is possible).
    rolled_forward
        Manifests found beyond SSM's ``last_run_seq`` (a run that crashed before SSM).
    missing
        Sequence ids found missing: holes among the manifests, or SSM's own run.
    ssm_stale
        SSM's watermarks differ from those of the manifest SSM names.
    compare_state
        Where the last comparison left its state (carried forward by every manifest).
    snapshot_cursors
        The first snapshots under way in key ranges (carried forward by every manifest).
    """

    run_seq: int
    watermarks: dict[str, str]
    recent_keys: str | None
    rolled_forward: tuple[int, ...] = ()
    missing: tuple[int, ...] = field(default_factory=tuple)
    ssm_stale: bool = False
    compare_state: CompareState | None = None
    snapshot_cursors: dict[str, SnapshotCursor] = field(default_factory=dict)

    def snapshot_complete(self, table: str) -> bool:
        """Whether ``table``'s first snapshot is whole in the lake: it has a watermark and no range left."""
        return table in self.watermarks and table not in self.snapshot_cursors


def resolve_previous(store: LakeStore, state: SsmState) -> Previous:
    """Roll forward from SSM over every manifest after ``last_run_seq`` (one LIST call).

    Parameters
    ----------
    store
        The ingest bucket.
    state
        SSM as read at the start of the run.

    Returns
    -------
    Previous
    """
    later = tuple(committed_runs(store, after=state.last_run_seq))
    missing: list[int] = []
    expected = state.last_run_seq + 1
    for seq in later:
        missing.extend(range(expected, seq))
        expected = seq + 1
    last = later[-1] if later else state.last_run_seq
    if last == 0:
        return Previous(0, dict(state.watermarks), None, later, tuple(missing))
    manifest = _read_manifest(store, last)
    if manifest is None:
        # SSM names a run whose manifest is gone (deleted by hand, or SSM edited):
        # continue from SSM's watermarks without a dedup set, and say so.
        missing.append(last)
        return Previous(last, dict(state.watermarks), None, later, tuple(sorted(missing)))
    stale = not later and manifest.watermarks != state.watermarks
    return Previous(
        last, manifest.watermarks, manifest.recent_keys, later, tuple(missing), stale, manifest.compare_state,
        manifest.snapshot_cursors,
    )  # fmt: skip


def _read_manifest(store: LakeStore, seq: int) -> IngestManifest | None:
    """Manifest ``seq`` (None if there is none) with its watermarks checked (WatermarkError)."""
    manifest = read_manifest(store, seq)
    if manifest is not None:
        validate_watermarks(manifest.watermarks)
    return manifest
