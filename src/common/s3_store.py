"""The one way every stage reads and writes the lake (the ingest and processed buckets).

The lake is immutable (SPEC §3): ``put_new`` creates an object only if no object has
that key (S3 conditional write, ``If-None-Match: *``). A second writer of the same
key gets ``ObjectExistsError`` instead of silently replacing the first. That is also
how two concurrent runs are kept from committing the same run sequence id.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from botocore.response import StreamingBody
    from mypy_boto3_s3 import S3Client
else:
    S3Client = Any


class ObjectExistsError(Exception):
    """The key already holds an object; the lake never overwrites."""


class ObjectMissingError(KeyError):
    """No object at the key."""


def _is_precondition_failure(exc: ClientError) -> bool:
    code = exc.response.get("Error", {}).get("Code", "")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    # 412 PreconditionFailed: the key exists. 409 ConditionalRequestConflict: a
    # concurrent conditional write to the same key is in flight; either way, we lost.
    return code in {"PreconditionFailed", "ConditionalRequestConflict"} or status in {412, 409}


class LakeStore:
    """Read and create objects in one bucket. Never overwrites, never deletes."""

    def __init__(self, bucket: str, client: S3Client) -> None:
        self.bucket = bucket
        self.client = client

    # -- writing -------------------------------------------------------------
    def put_new(
        self,
        key: str,
        body: bytes | IO[bytes],
        content_type: str = "application/octet-stream",
        metadata: dict[str, str] | None = None,
    ) -> None:
        """Create ``key``; raise ObjectExistsError if anything is already there."""
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentType=content_type,
                Metadata=metadata or {},
                IfNoneMatch="*",
            )
        except ClientError as exc:
            if _is_precondition_failure(exc):
                raise ObjectExistsError(f"s3://{self.bucket}/{key} already exists") from exc
            raise

    def put_new_json(self, key: str, document: Any) -> None:
        body = json.dumps(document, indent=1, sort_keys=True, default=str).encode()
        self.put_new(key, body, content_type="application/json")

    # -- reading -------------------------------------------------------------
    def open_stream(self, key: str) -> StreamingBody:
        """The object's body as a stream (``read(n)``, ``close()``), not held in memory.

        Raises
        ------
        ObjectMissingError
            No such key.
        """
        try:
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404", "NotFound"}:
                raise ObjectMissingError(f"s3://{self.bucket}/{key}") from exc
            raise

    def get_bytes(self, key: str) -> bytes:
        body = self.open_stream(key)
        try:
            return body.read()
        finally:
            body.close()

    def get_json(self, key: str) -> Any:
        return json.loads(self.get_bytes(key))

    def get_text_lines(self, key: str) -> list[str]:
        """The lines of a (possibly gzipped) text object."""
        data = self.get_bytes(key)
        if key.endswith(".gz"):
            data = gzip.decompress(data)
        return data.decode("utf-8").splitlines()

    def download_to(self, key: str, fileobj: IO[bytes]) -> None:
        """Stream an object into a file, without holding it in memory."""
        self.client.download_fileobj(self.bucket, key, fileobj)

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise
        return True

    def list_keys(self, prefix: str, start_after: str | None = None) -> Iterator[str]:
        """Keys under ``prefix`` in lexicographic order (S3 lists in that order)."""
        paginator = self.client.get_paginator("list_objects_v2")
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        if start_after:
            kwargs["StartAfter"] = start_after
        for page in paginator.paginate(**kwargs):
            for obj in page.get("Contents", []):
                yield obj["Key"]
