"""`unrolled.data.windows` on a 10-million-step series: a view, no copy, under 0.1 s.

Times `windows(series, look_back=64)` on a univariate and a 4-feature series of 10 million
float32 steps (the NaN check included), checks that `x` and `y` share the series' memory,
and, for scale, times the seeds' `create_dataset` Python loop on the first 100,000 steps.

    python benchmarks/windows.py            # writes its section of RESULTS.md
    python benchmarks/windows.py --quick    # fewer repetitions, writes nothing
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402
from report import header_lines, load_average, write_section  # noqa: E402

from unrolled.data import windows  # noqa: E402
from unrolled.data.series import check_finite  # noqa: E402

SECTION = "windows"
COMMAND = "python benchmarks/windows.py"
STEPS, LOOK_BACK, TARGET_S = 10_000_000, 64, 0.1
SEEDS_STEPS = 100_000


def seeds_create_dataset(dataset: np.ndarray, look_back: int) -> tuple[np.ndarray, np.ndarray]:
    """The tutorials' function, as the seeds have it (one window short)."""
    data_x, data_y = [], []
    for i in range(len(dataset) - look_back - 1):
        data_x.append(dataset[i : (i + look_back), 0])
        data_y.append(dataset[i + look_back, 0])
    return np.array(data_x), np.array(data_y)


def median_time(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 repetitions; writes nothing")
    args = parser.parse_args(argv)
    repeats = 3 if args.quick else 15
    load_before = load_average()
    began = time.perf_counter()

    rng = np.random.default_rng(0)
    rows = []
    for features in (1, 4):
        series = rng.standard_normal((STEPS, features), dtype=np.float32)
        series = series[:, 0] if features == 1 else series  # (timesteps,) or (timesteps, 4)
        x, y = windows(series, LOOK_BACK)
        assert np.shares_memory(x, series) and np.shares_memory(y, series), "windows copied"
        assert x.shape == (STEPS - LOOK_BACK, LOOK_BACK, features)
        seconds = median_time(lambda s=series: windows(s, LOOK_BACK), repeats)
        check = median_time(lambda s=series: check_finite(s, "series"), repeats)
        rows.append((features, x.shape, y.shape, x.nbytes, seconds, check))
        print(
            f"{features} feature(s): x {x.shape} ({x.nbytes / 2**30:.1f} GiB if copied) in "
            f"{seconds * 1e3:.2f} ms (the finite check alone: {check * 1e3:.2f} ms), no copy",
            flush=True,
        )

    small = rng.standard_normal((SEEDS_STEPS, 1), dtype=np.float32)
    seeds_s = median_time(lambda: seeds_create_dataset(small, LOOK_BACK), 1 if args.quick else 3)
    scaled = seeds_s * STEPS / SEEDS_STEPS
    print(
        f"seeds' create_dataset loop: {seeds_s:.3f} s on {SEEDS_STEPS:,} steps "
        f"(about {scaled:.0f} s at {STEPS:,}, linearly)"
    )
    elapsed = time.perf_counter() - began
    if args.quick:
        return 0

    table = [
        "| series | x | y | x if copied | windows() | finite check alone | target | result |",
        "|---|---|---|---:|---:|---:|---|---|",
    ]
    for features, x_shape, y_shape, nbytes, seconds, check in rows:
        verdict = "PASS" if seconds < TARGET_S else "FAIL"
        table.append(
            f"| ({STEPS:,}, {features}) float32 | {x_shape} view | {y_shape} view | "
            f"{nbytes / 2**30:.1f} GiB | {seconds * 1e3:.2f} ms | {check * 1e3:.2f} ms | "
            f"< {TARGET_S * 1e3:.0f} ms, no copy | {verdict} |"
        )
    body = "\n".join(
        [
            "## Windows: `unrolled.data.windows` on a 10-million-step series",
            "",
            *header_lines(COMMAND, elapsed),
            f"- Load average (1, 5, 15 min): {load_before} before the run, {load_average()} after.",
            f"- `windows(series, look_back={LOOK_BACK})`, median of {repeats} calls, including the "
            "NaN/infinity check over the whole series (the only pass over the data). "
            "`np.shares_memory(x, series)` and `np.shares_memory(y, series)` are asserted: "
            "x and y are strided views; the copy happens when `fit` makes tensors.",
            f"- For scale: the seeds' `create_dataset` Python loop took {seeds_s:.3f} s on the "
            f"first {SEEDS_STEPS:,} steps, about {scaled:.0f} s for {STEPS:,} steps if linear "
            f"(and a copy of {rows[0][3] / 2**30:.1f} GiB).",
            "",
            *table,
        ]
    )
    write_section(SECTION, body)
    print("wrote benchmarks/RESULTS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
