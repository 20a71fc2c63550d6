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
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from common.s3_store import LakeStore
from common.source_tables import SourceTable
from lake.changes import CompareState
from lake.keys import KeyKind, parse_key
from lake.manifest import read_manifest

CARRIED_SCHEMA = pa.schema([("id", pa.int64()), ("lu", pa.int64()), ("digest", pa.binary(16))])


def line_digest(line: bytes) -> bytes:
    """What identifies a JSON line's content: md5 of its bytes (a checksum, not security)."""
    return hashlib.md5(line, usedforsecurity=False).digest()


class _Columns:
    """Growable id / last_updated / digest columns, filled line by line, converted per block.

    ``last_updated`` is parsed by numpy per block of lines (``datetime64[ms]`` reads the
    lake's ``YYYY-MM-DDTHH:MM:SS.mmm``): ``strptime`` per line was half the client's time
    of a first comparison.
    """

    BLOCK = 1 << 16

    def __init__(self, size: int) -> None:
        self.ids, self.lu = np.empty(size, np.int64), np.empty(size, np.int64)
        self.digests = np.empty((size, 16), np.uint8)
        self.n = 0
        self._ids: list[int] = []
        self._lu: list[str] = []
        self._digests = bytearray()

    def add(self, pk: int, last_updated: str, digest: bytes) -> None:
        self._ids.append(pk)
        self._lu.append(last_updated)
        self._digests += digest
        if len(self._ids) == self.BLOCK:
            self._flush()

    def _flush(self) -> None:
        start, end = self.n, self.n + len(self._ids)
        if end > len(self.ids):
            size = max(end, 2 * len(self.ids))
            self.ids, self.lu = np.resize(self.ids, size), np.resize(self.lu, size)
            self.digests = np.resize(self.digests, (size, 16))
        self.ids[start:end] = self._ids
        self.lu[start:end] = np.array(self._lu, "datetime64[ms]").view(np.int64)
        self.digests[start:end] = np.frombuffer(bytes(self._digests), np.uint8).reshape(-1, 16)
        self.n, self._ids, self._lu, self._digests = end, [], [], bytearray()

    def finish(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """The filled columns, handed over (this object keeps no reference, so the caller can free them)."""
        self._flush()
        out = self.ids, self.lu, self.digests, self.n
        self.ids = self.lu = self.digests = np.empty(0, np.int64)
        return out


@dataclass(frozen=True)
class CarriedObject:
    """One committed run's data object of a table, carried after the table's last comparison."""

    key: str
    rows: int


class Carried:
    """The latest version of each id that runs after the last comparison carried, for one table.

    Columnar and sorted by id (8 + 8 + 16 bytes a row): the first comparison of a table
    reads every line the lake holds (it has no state yet), 1.5M transactions at 1M sales
    orders, so a dict of Python objects per row (~230 bytes) would not fit the budget.
    """

    def __init__(self, ids: np.ndarray, lu: np.ndarray, digests: np.ndarray) -> None:
        self.ids, self.lu, self.digests = ids, lu, digests  # digests: (n, 16) uint8

    @classmethod
    def read(cls, store: LakeStore, objects: list[CarriedObject], pk: str) -> Carried:
        """Every line of ``objects`` (in run order); the latest per id wins (then the later ``last_updated``)."""
        columns = _Columns(sum(o.rows for o in objects))  # the manifests' counts: no copy unless one holds more
        for obj in objects:
            with gzip.GzipFile(fileobj=store.open_stream(obj.key)) as lines:
                for line in lines:
                    row = json.loads(line)
                    columns.add(row[pk], row["last_updated"], line_digest(line))
        ids, lu, digests, n = columns.finish()
        order = np.lexsort((lu[:n], ids[:n]))  # stable: equal (id, last_updated) keep the run order
        last = np.ones(n, bool)
        last[:-1] = ids[order[:-1]] != ids[order[1:]]
        keep = order[last]
        del order, last
        # One column at a time, each read column freed as soon as its kept rows are copied.
        ids = ids[keep]
        lu = lu[keep]
        return cls(ids, lu, digests[keep])

    @classmethod
    def nothing(cls) -> Carried:
        return cls(np.empty(0, np.int64), np.empty(0, np.int64), np.empty((0, 16), np.uint8))

    def table(self, lower: int, upper: int) -> pa.Table:
        """The ids with ``lower <= id < upper``."""
        lo, hi = (int(i) for i in np.searchsorted(self.ids, [lower, upper]))
        digests = pa.py_buffer(np.ascontiguousarray(self.digests[lo:hi]).tobytes())
        return pa.table(
            {
                "id": self.ids[lo:hi],
                "lu": self.lu[lo:hi],
                "digest": pa.Array.from_buffers(pa.binary(16), hi - lo, [None, digests]),
            },
            schema=CARRIED_SCHEMA,
        )

    def bounds(self) -> tuple[int, int] | None:
        return (int(self.ids[0]), int(self.ids[-1])) if len(self.ids) else None


def state_run(state: CompareState | None, table: str) -> int:
    """The run whose comparison left ``table``'s state (0: never compared)."""
    key = state.tables.get(table) if state else None
    parsed = parse_key(key, KeyKind.COMPARE_STATE) if key else None
    return parsed.run_seq if parsed else 0


def carried_since(
    store: LakeStore, state: CompareState | None, last_run: int, tables: list[SourceTable]
) -> dict[str, list[CarriedObject]]:
    """Per table, the data objects of every committed run after its last comparison (all runs when none).

    Only the manifests are read here; each table's lines are read when its turn comes
    (``Carried.read``), so one table's lines are in memory at a time.
    """
    carried: dict[str, list[CarriedObject]] = {t.name: [] for t in tables}
    since = {t.name: state_run(state, t.name) for t in tables}
    for seq in range(min(since.values(), default=last_run) + 1, last_run + 1):
        manifest = read_manifest(store, seq)
        if manifest is None:
            continue  # a gap in the sequence: logged and counted by the run itself
        for table in tables:
            entry = manifest.tables.get(table.name)
            if entry is not None and entry.key and seq > since[table.name]:
                carried[table.name].append(CarriedObject(entry.key, entry.rows))
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
