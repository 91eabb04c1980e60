"""What every benchmark writes with its figures: the machine, the versions, its RESULTS.md section."""

from __future__ import annotations

import datetime
import os
import platform
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

import unrolled

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def header_lines(command: str, seconds: float) -> list[str]:
    """Date, machine, versions and command, as markdown list items."""
    import keras

    return [
        f"- Date: {datetime.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}",
        f"- Machine: {cpu_model()}, {os.cpu_count()} logical cores, torch threads "
        f"{torch.get_num_threads()} ({platform.system()} {platform.release()}); load average {load_average()}",
        f"- Versions: python {platform.python_version()}, torch {torch.__version__}, keras "
        f"{keras.__version__} (backend {keras.backend.backend()}), numpy {np.__version__}, "
        f"unrolled {unrolled.__version__}",
        f"- Command: `{command}` (ran {seconds:.0f} s)",
    ]


def write_section(name: str, body: str) -> None:
    """Replaces (or appends) the section of RESULTS.md that belongs to benchmark `name`."""
    start, end = f"<!-- benchmark: {name} (start) -->", f"<!-- benchmark: {name} (end) -->"
    text = f"{start}\n{body.rstrip()}\n{end}\n"
    current = (
        RESULTS.read_text()
        if RESULTS.exists()
        else (
            "# Benchmark results\n\nWritten by the scripts in `benchmarks/` (see README.md there); each"
            " section is replaced when its script runs again.\n"
        )
    )
    if start in current and end in current:
        before, rest = current.split(start, 1)
        after = rest.split(end, 1)[1].lstrip("\n")
        RESULTS.write_text(before + text + ("\n" + after if after else ""))
    else:
        RESULTS.write_text(current.rstrip("\n") + "\n\n" + text)


def interleaved_rounds(
    contenders: dict[str, Callable[[], object]], rounds: int
) -> dict[str, list[float]]:
    """Seconds per call of each contender: one call each per round, in a fresh random order
    each round (seeded), so drift on a shared machine hits all alike."""
    names = list(contenders)
    samples: dict[str, list[float]] = {name: [] for name in names}
    order = random.Random(0)
    for _ in range(rounds):
        order.shuffle(names)
        for name in names:
            start = time.perf_counter()
            contenders[name]()
            samples[name].append(time.perf_counter() - start)
    return samples


def ratio_text(samples: dict[str, list[float]], other: str, base: str) -> str:
    """`other / base` as the ratio of the medians, with the range of the per-round ratios."""
    per_round = [o / u for o, u in zip(samples[other], samples[base], strict=True)]
    median = statistics.median(samples[other]) / statistics.median(samples[base])
    return f"{median:.2f}x ({min(per_round):.2f}-{max(per_round):.2f})"
