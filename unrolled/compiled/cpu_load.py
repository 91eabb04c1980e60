"""How many cores are free right now, for the batched kernels' thread teams.

On a machine another CPU-bound process shares, a kernel whose team has a thread per core
waits at every batch for the thread the other process holds up: on 2 cores with one taken,
an epoch ran at 0.6x a hand-written torch loop in single rounds. The kernels keep splitting
each batch into the same parts (so results do not depend on the machine's load: the sums
run in the same order) and run those parts on a team no larger than the free cores.
"""

from __future__ import annotations

import os
from pathlib import Path

LOADAVG = Path("/proc/loadavg")


def others_running() -> int | None:
    """Threads other than this one that are running or ready to run, now (Linux's
    /proc/loadavg); None where the system does not say."""
    try:
        running = int(LOADAVG.read_text().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return None
    return max(0, running - 1)  # this thread, reading, counts itself


def free_cores(limit: int) -> int:
    """Up to `limit` cores that no other running thread holds (at least one)."""
    busy = others_running()
    if busy is None:
        return limit
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(limit, cores - busy))
