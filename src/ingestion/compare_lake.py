"""The lake side of a comparison: what the lake says each source row is now.

Two parts make it up:

* the state the last comparison left (``state/compare/<table>/...parquet``: id, epoch-ms
  ``last_updated`` and the source's content hash of every row it saw), read range by range;
* the rows every run after that comparison carried (their data objects): for those the
  lake knows ``last_updated`` and the exact JSON line, not the source's hash, so each
  keeps the md5 of its line (``digest``); the comparison renders the source row the same
  way and compares lines. The latest version per id wins (runs in order, then
  ``last_updated``).

What was carried since the last comparison is proportional to the changes since then
(an hour of them); the state is read one id range at a time.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from common.s3_store import LakeStore
from common.source_tables import SourceTable
from ingestion.watermarks import parse_watermark
from lake.changes import CompareState
from lake.keys import KeyKind, parse_key
from lake.manifest import read_manifest

_EPOCH = datetime(1970, 1, 1)
_MS = timedelta(milliseconds=1)
CARRIED_SCHEMA = pa.schema([("id", pa.int64()), ("lu", pa.int64()), ("digest", pa.binary())])


def epoch_ms(text: str) -> int:
    """The lake's ``YYYY-MM-DDTHH:MM:SS.mmm`` as epoch milliseconds."""
    return (parse_watermark(text) - _EPOCH) // _MS


def line_digest(line: bytes) -> bytes:
    """What identifies a JSON line's content: md5 of its bytes (a checksum, not security)."""
    return hashlib.md5(line, usedforsecurity=False).digest()


@dataclass
class Carried:
    """The latest version of each id that runs after the last comparison carried, for one table."""

    latest: dict[int, tuple[int, bytes]] = field(default_factory=dict)  # id -> (lu ms, line digest)

    def add(self, line: bytes, pk: str) -> None:
        row = json.loads(line)
        lu = epoch_ms(row["last_updated"])
        known = self.latest.get(row[pk])
        if known is None or lu >= known[0]:
            self.latest[row[pk]] = (lu, line_digest(line))

    def table(self, lower: int, upper: int) -> pa.Table:
        ids = [i for i in self.latest if lower <= i < upper]
        return pa.table(
            {
                "id": pa.array(ids, pa.int64()),
                "lu": pa.array([self.latest[i][0] for i in ids], pa.int64()),
                "digest": pa.array([self.latest[i][1] for i in ids], pa.binary()),
            },
            schema=CARRIED_SCHEMA,
        )

    def bounds(self) -> tuple[int, int] | None:
        return (min(self.latest), max(self.latest)) if self.latest else None


def state_run(state: CompareState | None, table: str) -> int:
    """The run whose comparison left ``table``'s state (0: never compared)."""
    key = state.tables.get(table) if state else None
    parsed = parse_key(key, KeyKind.COMPARE_STATE) if key else None
    return parsed.run_seq if parsed else 0


def carried_since(
    store: LakeStore, state: CompareState | None, last_run: int, tables: list[SourceTable]
) -> dict[str, Carried]:
    """What every committed run after each table's last comparison (all runs when none) carried, per table."""
    carried = {t.name: Carried() for t in tables}
    since = {t.name: state_run(state, t.name) for t in tables}
    for seq in range(min(since.values(), default=last_run) + 1, last_run + 1):
        manifest = read_manifest(store, seq)
        if manifest is None:
            continue  # a gap in the sequence: logged and counted by the run itself
        for table in tables:
            entry = manifest.tables.get(table.name)
            if entry is None or not entry.key or seq <= since[table.name]:
                continue
            with gzip.GzipFile(fileobj=store.open_stream(entry.key)) as lines:
                for line in lines:
                    carried[table.name].add(line, table.primary_key)
    return carried


class StateFile:
    """The last comparison's state of one table, downloaded once, read one id range at a time."""

    SCHEMA = pa.schema([("id", pa.int64()), ("lu", pa.int64()), ("hash", pa.int64())])

    def __init__(self, store: LakeStore, key: str | None) -> None:
        self._file = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        self._parquet: pq.ParquetFile | None = None
        self._groups: list[tuple[int, int, int]] = []  # (row group, smallest id, largest id)
        if key:
            store.download_to(key, self._file)
            self._file.seek(0)
            self._parquet = pq.ParquetFile(self._file)
            meta = self._parquet.metadata
            for i in range(meta.num_row_groups):
                if meta.row_group(i).num_rows:  # an empty row group has no statistics (and nothing to read)
                    ids = meta.row_group(i).column(0).statistics
                    self._groups.append((i, ids.min, ids.max))

    @classmethod
    def writer(cls, path: str) -> pq.ParquetWriter:
        """A writer of a new state file; one row group per ``write_table`` (one id range).

        No dictionary encoding: ids and hashes are all distinct, so the writer's dictionary
        only grows (a hash table of tens of MB per range, most of the comparison's peak
        memory) until it falls back to plain encoding anyway.
        """
        return pq.ParquetWriter(path, cls.SCHEMA, use_dictionary=False)

    def bounds(self) -> tuple[int, int] | None:
        """The smallest and largest id in the state (from the row groups' statistics)."""
        if not self._groups:
            return None
        return min(g[1] for g in self._groups), max(g[2] for g in self._groups)

    def rows(self) -> int:
        return self._parquet.metadata.num_rows if self._parquet else 0

    def read(self, lower: int, upper: int) -> pa.Table:
        """The state's rows with ``lower <= id < upper`` (only the row groups that can hold them are read)."""
        groups = [i for i, low, high in self._groups if high >= lower and low < upper]
        if self._parquet is None or not groups:
            return self.SCHEMA.empty_table()
        part = self._parquet.read_row_groups(groups)
        ids = part.column("id")
        return part.filter(pc.and_(pc.greater_equal(ids, lower), pc.less(ids, upper)))

    def close(self) -> None:
        self._file.close()
