"""Producing the next item of a stream on a worker thread while the caller works on this one."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
_END = object()


def prefetched(items: Iterator[T], depth: int = 1, name: str = "prefetch") -> Iterator[T]:
    """Yield ``items`` as one worker thread produces them, up to ``depth`` items ahead.

    What the worker does (inflating, encoding, a blocking socket write on the caller's
    side) releases the GIL, so on the Lambda's two vCPUs producing and consuming overlap
    instead of taking turns; at most ``depth`` + 1 items are in memory. An exception of
    the producer is raised here, in the consumer, where it happened in the stream. If the
    consumer stops early (``close()``), nothing more is produced and the worker is joined.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=name) as pool:
        # One worker runs the submitted next() calls one after the other, in order.
        ahead: deque[Future[object]] = deque(pool.submit(next, items, _END) for _ in range(max(1, depth)))
        try:
            while True:
                item = ahead.popleft().result()
                if item is _END:
                    return
                ahead.append(pool.submit(next, items, _END))
                yield item  # type: ignore[misc]
        finally:
            for future in ahead:
                future.cancel()
