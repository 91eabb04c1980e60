"""How many cores are free right now, for the batched kernels' thread teams.

On a machine another CPU-bound process shares, a kernel whose team has a thread per core
waits at every batch for the thread the other process holds up: on 2 cores with one taken,
an epoch ran at 0.6x a hand-written torch loop in single rounds. The kernels keep splitting
each batch into the same parts (so results do not depend on the machine's load: the sums
run in the same order) and run those parts on a team no larger than the free cores.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

LOADAVG = Path("/proc/loadavg")
TASKS = Path("/proc/self/task")


def others_running() -> int | None:
    """Threads of other processes that are running or ready to run, now (Linux's
    /proc/loadavg, less this process's own: torch's OpenMP threads spin for a while after
    each operation, and would read as another program's work); None where the system does
    not say."""
    try:
        running = int(LOADAVG.read_text().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return None
    return max(0, running - _own_running())


def _own_running() -> int:
    """This process's threads running now (this one, reading, among them)."""
    count = 0
    for stat in TASKS.glob("*/stat"):
        try:
            state = stat.read_text().rsplit(")", 1)[1].split()[0]  # after the command's name
        except (OSError, IndexError):
            continue  # a thread that ended meanwhile
        count += state == "R"
    return max(count, 1)


def free_cores(limit: int, looks: int = 3, apart: float = 0.0005) -> int:
    """Up to `limit` cores that no other program's running thread holds (at least one).

    The fewest busy threads over `looks` readings `apart` seconds apart: a program that has
    just finished its work spins its thread pool for a moment, and one reading would take
    that for work that stays."""
    if limit <= 1:  # a team of one: nothing to read (the readings sleep a millisecond)
        return 1
    readings = []
    for look in range(looks):
        if look:
            time.sleep(apart)
        readings.append(others_running())
    if None in readings:
        return limit
    busy = min(r for r in readings if r is not None)
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(limit, cores - busy))
