"""A local exchange-rate API in the currency-api format, so neither ``make run`` nor a test needs the internet.

``FxServer`` listens on 127.0.0.1 (a free port) in a background thread and answers
``GET /<date>/<base>.json`` (``url_template`` = ``http://127.0.0.1:<port>/{date}/{base}.json``,
what ``FX_RATES_URL`` is set to locally):

* by default with ``synthetic_document``: made-up but plausible rates for any date up to
  today (deterministic: the same date always gives the same rates), 404 for later dates;
* or with the ``routes`` a test gives: ``{"<date>/<base>": [Reply, ...]}`` answered in turn
  (the last one repeats), for recorded documents, gaps, errors and slow answers.

Every request is recorded in ``requests`` (the path), for tests to count.
"""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

# Synthetic rates per unit of GBP: a level and how far it swings over the year.
_SYNTHETIC = {"gbp": (1.0, 0.0), "usd": (1.27, 0.05), "eur": (1.17, 0.03), "jpy": (188.0, 6.0), "chf": (1.12, 0.02)}


@dataclass(frozen=True)
class Reply:
    """One scripted answer: status, body, and a delay before it is sent (to outlast a client's timeout)."""

    status: int = 200
    body: bytes = b""
    delay_s: float = 0.0

    @classmethod
    def document(cls, day: str, base: str, rates: dict[str, Any], delay_s: float = 0.0) -> Reply:
        """A currency-api document; ``rates`` values are written as given (numbers as JSON numbers)."""
        text = json.dumps({"date": day, base: rates}).encode()
        return cls(200, text, delay_s)


def synthetic_document(day: date, base: str) -> Reply:
    """Plausible rates for ``day`` (GBP base only; 404 after today, like the real API)."""
    if day > datetime.now(UTC).date() or base != "gbp":
        return Reply(404, b"Not Found")
    t = day.toordinal() / 58.0
    rates = {
        code: round(level + swing * math.sin(t + i), 6) for i, (code, (level, swing)) in enumerate(_SYNTHETIC.items())
    }
    return Reply.document(day.isoformat(), base, rates)


class FxServer:
    """The API on a free port of 127.0.0.1; a context manager (``start``/``stop`` also work)."""

    def __init__(self, routes: dict[str, list[Reply]] | None = None) -> None:
        self.routes = routes
        self.requests: list[str] = []
        self._served: dict[str, int] = {}
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def url_template(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the exchange-rate server is not running")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/{{date}}/{{base}}.json"

    def reply_for(self, path: str) -> Reply:
        """The answer to ``/<date>/<base>.json`` (404 for anything else)."""
        route = path.strip("/").removesuffix(".json")
        with self._lock:
            self.requests.append(route)
            if self.routes is not None:
                replies = self.routes.get(route)
                if not replies:
                    return Reply(404, b"Not Found")
                n = self._served.get(route, 0)
                self._served[route] = n + 1
                return replies[min(n, len(replies) - 1)]
        day, _, base = route.partition("/")
        try:
            return synthetic_document(date.fromisoformat(day), base)
        except ValueError:
            return Reply(404, b"Not Found")

    def start(self) -> FxServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                reply = server.reply_for(self.path)
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (its timeout)
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, name="fx-server", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FxServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
