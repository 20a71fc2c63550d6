"""Handler output reaches the log of the call that produced it, also from two threads at once."""

from __future__ import annotations

import io
import json
import sys
import threading
from contextlib import redirect_stdout

from common.observability import get_logger
from ops.runner import stage_output_to


def test_a_logger_made_under_another_stdout_writes_to_the_current_one() -> None:
    with redirect_stdout(io.StringIO()):  # as when a handler is first imported inside a capture
        logger = get_logger("output-test-import")
    log = io.StringIO()
    with stage_output_to(log):
        logger.warning("after the import")
    assert [json.loads(line)["message"] for line in log.getvalue().splitlines()] == ["after the import"]


def test_two_threads_each_keep_their_own_sink_and_stdout_is_restored() -> None:
    before = sys.stdout
    logger = get_logger("output-test-threads")
    logs = {name: io.StringIO() for name in ("a", "b")}
    a_entered, b_entered, a_left = threading.Event(), threading.Event(), threading.Event()

    def a() -> None:
        with stage_output_to(logs["a"]):
            a_entered.set()
            b_entered.wait(5)
            logger.warning("from a, before b leaves")
        a_left.set()  # a leaves first: b's sink must survive a's exit

    def b() -> None:
        a_entered.wait(5)
        with stage_output_to(logs["b"]):
            b_entered.set()
            a_left.wait(5)
            logger.warning("from b, after a left")

    a_thread, b_thread = threading.Thread(target=a), threading.Thread(target=b)
    a_thread.start(), b_thread.start()
    a_thread.join(10), b_thread.join(10)

    messages = {k: [json.loads(line)["message"] for line in v.getvalue().splitlines()] for k, v in logs.items()}
    assert messages == {"a": ["from a, before b leaves"], "b": ["from b, after a left"]}
    assert sys.stdout is before
