"""Reading the data objects an ingestion manifest names, hashing them on the way.

The manifest itself is ``lake.manifest``'s. A data object whose bytes do not match
the manifest's sha256 is bad *input* and is quarantined (docs/transform.md); one
that is missing breaks the contract and fails the run.
"""

from __future__ import annotations

import hashlib
import io
from typing import Any, Protocol

from common.s3_store import LakeStore, ObjectMissingError
from transform.errors import IngestObjectMissingError


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
