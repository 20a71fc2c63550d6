"""Reading an ingestion run: its commit record (manifest) and the data objects it names.

The manifest format is fixed by docs/architecture.md ("Ingest bucket layout").
Everything here fails loudly on a broken contract (a transform of a misread run
would be silently wrong), except a data object whose bytes do not match the
manifest's sha256, which is bad *input* and is quarantined (docs/transform.md).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import Any, Protocol

from common.runs import run_key
from common.s3_store import LakeStore, ObjectMissingError
from common.source_tables import SOURCE_TABLES
from transform.errors import IngestObjectMissingError, ManifestError

MANIFEST_FORMAT = 1


@dataclass(frozen=True)
class TableEntry:
    """One table of an ingestion manifest."""

    table: str
    key: str | None
    rows: int
    sha256: str | None


@dataclass(frozen=True)
class Manifest:
    """An ingestion commit record (only what transform uses)."""

    run_seq: int
    key: str
    attempt: str
    tables: dict[str, TableEntry]


def read_manifest(store: LakeStore, seq: int) -> Manifest:
    """Read and check the ingestion commit record of run ``seq``.

    Raises
    ------
    ManifestError
        If it is missing, not JSON, or breaks the contract (format, run_seq, tables).
    """
    key = run_key(seq)
    try:
        doc: Any = store.get_json(key)
    except ObjectMissingError as exc:
        raise ManifestError(f"ingest commit record {key} disappeared") from exc
    except ValueError as exc:
        raise ManifestError(f"ingest commit record {key} is not JSON: {exc}") from exc
    try:
        if doc["format"] != MANIFEST_FORMAT:
            raise ManifestError(f"{key}: unsupported format {doc['format']!r}")
        if int(doc["run_seq"]) != seq:
            raise ManifestError(f"{key}: run_seq {doc['run_seq']!r} does not match its key")
        tables: dict[str, TableEntry] = {}
        for name, entry in doc["tables"].items():
            if name not in SOURCE_TABLES:
                raise ManifestError(f"{key}: table {name!r} is not in the source allow-list")
            tables[name] = TableEntry(name, entry.get("key"), int(entry.get("rows") or 0), entry.get("sha256"))
        return Manifest(run_seq=seq, key=key, attempt=str(doc.get("attempt", "")), tables=tables)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ManifestError(f"{key}: malformed commit record: {exc!r}") from exc


class _Body(Protocol):
    def read(self, amt: int | None = None) -> bytes: ...
    def close(self) -> None: ...


class HashingReader(io.RawIOBase):
    """A read-only binary stream over an S3 object's body that hashes what it reads.

    Streaming (rather than downloading to a file, hashing, then reading the file) lets
    the inflate and the parse start with the first megabyte and overlap the transfer.
    The price: the sha256 is only known once the body is read to the end, so callers
    verify *after* consuming it and throw away what they made of a mismatching object.
    """

    def __init__(self, body: _Body) -> None:
        super().__init__()
        self._body = body
        self._digest = hashlib.sha256()
        self._eof = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._body.read(None if size is None or size < 0 else size)
        if data:
            self._digest.update(data)
        elif size != 0:
            self._eof = True
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def drain(self) -> None:
        """Read (and hash) whatever has not been read yet."""
        while not self._eof:
            self.read(1 << 20)

    def hexdigest(self) -> str:
        """The sha256 of every byte read so far (the whole object once ``drain``-ed)."""
        return self._digest.hexdigest()

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


def open_object(store: LakeStore, key: str) -> HashingReader:
    """Open ``key`` for streaming; its sha256 accumulates as it is read.

    Raises
    ------
    IngestObjectMissingError
        If a manifest names an object that is not there (the lake is immutable, so
        this is a broken contract, not bad input).
    """
    try:
        body = store.open_stream(key)
    except ObjectMissingError as exc:
        raise IngestObjectMissingError(f"s3://{store.bucket}/{key} is named by a manifest but missing") from exc
    return HashingReader(body)
