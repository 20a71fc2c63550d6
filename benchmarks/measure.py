"""What the benchmarks measure of a process (Linux ``/proc``): its memory, its CPU-seconds, a PostgreSQL server's.

Nothing of the project is imported here: a child that measures another source tree
(``benchmarks.ab``) imports this before it puts that tree on its path.
"""

from __future__ import annotations

import os
import resource
from pathlib import Path


def status_mib(field: str) -> float:
    """A ``/proc/self/status`` figure in MiB: ``VmRSS`` (now) or ``VmHWM`` (the peak).

    VmHWM, not ``ru_maxrss``: ru_maxrss survives exec, so a child started from a big parent
    would report the parent's peak (Linux getrusage(2)).
    """
    prefix = f"{field}:"
    with open("/proc/self/status", encoding="ascii") as status:  # read up to the line: e2e samples every 5 ms
        for line in status:
            if line.startswith(prefix):
                return int(line.split()[1]) / 1024
    raise ValueError(f"no {field} in /proc/self/status")


def peak_rss_mib() -> float:
    """This process's peak RSS (``VmHWM``)."""
    return status_mib("VmHWM")


def cpu_s() -> float:
    """User + system CPU-seconds of this process so far (every thread)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def proc_cpu_s(pid: int, *, reaped: bool = False) -> float:
    """User + system CPU-seconds of a local process (a PostgreSQL backend, moto); with ``reaped``
    its exited children's too. On a shared machine CPU time is what the work costs; wall time
    also counts the waits for a core. Raises ``OSError`` when the process is gone."""
    fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12]) + ((int(fields[13]) + int(fields[14])) if reaped else 0)
    return ticks / os.sysconf("SC_CLK_TCK")


def server_cpu_s(postmaster: int) -> float:
    """The whole PostgreSQL server's CPU so far: the postmaster, its live backends, and those
    that exited (their time is in the postmaster's children's counters once reaped)."""
    try:
        pids = [int(p) for p in Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text().split()]
    except OSError:
        pids = []
    return _or_zero(postmaster, reaped=True) + sum(_or_zero(p) for p in pids)


def _or_zero(pid: int, *, reaped: bool = False) -> float:
    try:
        return proc_cpu_s(pid, reaped=reaped)
    except OSError:  # exited since it was listed: its time is in the postmaster's reaped counters
        return 0.0
