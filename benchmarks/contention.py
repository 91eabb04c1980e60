"""Issue 20's contention target: with another CPU-bound process running, the batched fit
kernel must not fall behind torch's own operator.

Run from the repository root (numba installed):

    python benchmarks/contention.py           # about 2 minutes; writes its section of RESULTS.md
    python benchmarks/contention.py --quick   # smoke check, writes nothing

The M training step of `benchmarks/fast_paths.py` (batch 32, 50 steps, 8 features, 64
units, LSTM -> Dense(1), MSE, Adam; `fit` of 2 epochs of 8 batches per call) at 2 torch
threads, ours against the same steps hand-written over torch.nn.LSTM, in interleaved
rounds, twice: as the machine is, and with a busy-looping Python process started beside
it (one core of the two taken).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "torch")  # report.header_lines names Keras's version

import torch  # noqa: E402
from fast_paths import fit_contenders  # noqa: E402
from report import (  # noqa: E402
    header_lines,
    interleaved_rounds,
    load_average,
    ratio_text,
    write_section,
)

SECTION = "contention"
COMMAND = "python benchmarks/contention.py"
THREADS = 2
M = (32, 50, 8, 64)
BURNER = "while True:\n    pass\n"
ROUNDS = 15


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args()
    rounds = 3 if args.quick else args.rounds
    torch.set_num_threads(THREADS)
    started = time.perf_counter()
    contenders, model = fit_contenders("LSTM", *M)
    ours, hand = list(contenders)
    for call in contenders.values():  # warm-up: the kernel's load from numba's cache
        call()
    rows = []
    for phase in ("as the machine is", "one core busy (a busy-looping process beside it)"):
        burner = None
        if phase.startswith("one core"):
            burner = subprocess.Popen([sys.executable, "-c", BURNER])
            time.sleep(1.0)
        try:
            samples = interleaved_rounds(contenders, rounds)
        finally:
            if burner is not None:
                burner.kill()
                burner.wait()
        medians = {name: statistics.median(values) for name, values in samples.items()}
        rows.append(
            f"| {phase} | {1e3 * medians[ours]:.1f} | {1e3 * medians[hand]:.1f} | "
            f"{ratio_text(samples, hand, ours)} | {load_average()} |"
        )
        print(rows[-1], flush=True)
    path = model.last_fit_path
    print(f"path: {path.name}: {path.reason}")
    if args.quick:
        return
    body = "\n".join(
        [
            "## Contention (issue 20): the batched kernel with another CPU-bound process running",
            "",
            *header_lines(
                COMMAND + ("" if rounds == ROUNDS else f" --rounds {rounds}"),
                time.perf_counter() - started,
            ),
            f"- M training step (batch {M[0]}, {M[1]} steps, {M[2]} features, {M[3]} units), "
            f"LSTM -> Dense(1), MSE, Adam: `fit` of 2 epochs of 8 batches per call against "
            f"the same steps by hand over torch.nn.LSTM; {THREADS} torch threads; {rounds} "
            "interleaved rounds per phase. Ratio = hand loop / ours (above 1: ours faster): "
            "the ratio of the medians, and the range of the per-round ratios.",
            f"- Path ours took: {path.name}: {path.reason}",
            "",
            "| phase | ours ms per call | hand torch ms per call | hand / ours | "
            "load average after |",
            "|---|---:|---:|---:|---|",
            *rows,
        ]
    )
    write_section(SECTION, body)


if __name__ == "__main__":
    main()
