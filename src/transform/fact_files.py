"""The run's facts: each fact source streamed block by block into a local Parquet file.

A fact source object can be big (a first load: a million sales orders), so it is
never held whole: each verified block is checked against the dimension sources'
state (foreign keys), turned into fact rows and appended to a Parquet file in the
run's work folder, which ``run_writer`` uploads. Nothing of an object is kept until
it has been verified against its manifest sha256 (``RunReader``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.parquet as pq

from common.source_tables import SOURCE_TABLES
from lake.quarantine import BadRow
from transform.errors import ObjectRejectedError
from transform.facts import FACT_FEEDS, KnownIds, foreign_key_checks, referenced_dates
from transform.reader import Chunk
from transform.rejects import bad_rows_from, split_rejected
from transform.run_reader import RunReader
from transform.schemas import LINE_NO, WAREHOUSE_SCHEMAS
from transform.snapshot import PARQUET_OPTIONS

# Fact rows per Parquet row group: parse blocks are small (memory), row groups should
# not be (each repeats dictionaries and metadata, and makes the file bigger to upload).
ROW_GROUP_ROWS = 1 << 17
# What is written at once overshoots ROW_GROUP_ROWS by up to one block: still one group.
_ROW_GROUP_MAX = ROW_GROUP_ROWS * 2


@dataclass
class FactFiles:
    """The facts of one run: ``files`` is fact -> (Parquet file in the work folder, rows); ``dates`` referenced."""

    files: dict[str, tuple[str, int]] = field(default_factory=dict)
    dates: list[pa.Array] = field(default_factory=list)

    def referenced_dates(self) -> pa.Array:
        return pa.concat_arrays(self.dates) if self.dates else pa.array([], pa.date32())


def write_fact_files(reader: RunReader, known_ids: Mapping[str, pa.Array], workdir: str) -> FactFiles:
    """Stream every fact source of the run into ``workdir``; ``known_ids`` are the dimension sources' ids."""
    out = FactFiles()
    parents = {parent for feed in FACT_FEEDS.values() for _, parent in feed.foreign_keys}
    known = {parent: KnownIds.of(known_ids[parent]) for parent in parents}  # once per run, not per block
    for source, feed in FACT_FEEDS.items():
        fact_name = feed.fact
        if not reader.has_object(source):
            continue
        path = os.path.join(workdir, f"{fact_name}.parquet")
        writer = _FactWriter(reader, source, fact_name, known)
        try:
            writer.write(path)
        except ObjectRejectedError:
            continue  # nothing of an unverified object is kept (the file is left in workdir)
        reader.rows_in[source] = writer.rows_in
        reader.quarantine.add(writer.bad)
        out.dates.extend(writer.dates)
        if writer.written:
            out.files[fact_name] = (path, writer.written)
    return out


class _FactWriter:
    """One fact's Parquet from the run's object of its source; counts and rejects kept apart until verified."""

    def __init__(self, reader: RunReader, source: str, fact_name: str, known_ids: Mapping[str, KnownIds]) -> None:
        self.reader, self.source, self.fact_name, self.known_ids = reader, source, fact_name, known_ids
        self.key = reader.manifest.tables[source].key or ""
        self.written = self.rows_in = 0
        self.bad: list[BadRow] = []
        self.dates: list[pa.Array] = []

    def write(self, path: str) -> None:
        """Write to ``path``: a path, not a Python file object, so Arrow writes without the GIL the parsers need."""
        pending: list[pa.Table] = []  # fact rows not yet written: one row group at a time
        with pq.ParquetWriter(path, WAREHOUSE_SCHEMAS[self.fact_name], **PARQUET_OPTIONS) as writer:
            for chunk in self.reader.chunks(self.source):
                fact = self._fact_rows(chunk)
                if fact is None:
                    continue
                pending.append(fact)
                if sum(t.num_rows for t in pending) >= ROW_GROUP_ROWS:
                    writer.write_table(pa.concat_tables(pending), row_group_size=_ROW_GROUP_MAX)
                    pending.clear()
            if pending:
                writer.write_table(pa.concat_tables(pending), row_group_size=_ROW_GROUP_MAX)

    def _fact_rows(self, chunk: Chunk) -> pa.Table | None:
        """The fact rows of one chunk whose foreign keys match; the rest are set aside for quarantine."""
        self.rows_in += chunk.rows.num_rows + len(chunk.bad)
        self.bad.extend(chunk.bad)
        checks = foreign_key_checks(chunk.rows, self.source, self.known_ids)
        good, bad_index, reasons = split_rejected(chunk.rows, checks)
        self.bad.extend(
            bad_rows_from(
                chunk.rows,
                bad_index,
                reasons,
                table=self.source,
                run_seq=self.reader.seq,
                source_key=self.key,
                primary_key=SOURCE_TABLES[self.source].primary_key,
                line_no_column=LINE_NO,
                raw_line=chunk.raw_line,
            )
        )
        if not good.num_rows:
            return None
        fact = FACT_FEEDS[self.source].build(good)
        self.dates.append(referenced_dates(fact, self.fact_name))
        self.written += fact.num_rows
        return fact
