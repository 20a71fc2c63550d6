"""One read-only snapshot of totesys: what every table of a run (or a comparison) is read in.

READ ONLY: the pipeline never writes to the source. REPEATABLE READ: every table from
the same snapshot, so a sales order and the transaction that references it are seen
together. A database error becomes ``SourceQueryError`` (retriable) naming ``what``;
anything raised inside rolls the transaction back.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pg8000.native

from common.observability import get_logger
from ingestion.errors import SourceQueryError

logger = get_logger("ingestion")


@contextmanager
def read_only_snapshot(connection: pg8000.native.Connection, what: str) -> Iterator[None]:
    """``START TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY`` ... ``COMMIT`` around the block."""
    connection.run("START TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    try:
        yield
        connection.run("COMMIT")
    except pg8000.native.Error as exc:
        _rollback(connection)
        raise SourceQueryError(f"{what}: {exc}") from exc
    except BaseException:
        _rollback(connection)
        raise


def _rollback(connection: pg8000.native.Connection) -> None:
    try:
        connection.run("ROLLBACK")
    except pg8000.native.Error:  # the connection is gone; the server ends the transaction itself
        logger.debug("rollback failed on a broken connection")
