"""Training throughput of `fit` in one process and in two (torchrun, gloo, DistributedDataParallel).

Run from the repository root:

    python benchmarks/distributed.py           # writes its section of benchmarks/RESULTS.md
    python benchmarks/distributed.py --quick   # smoke check: one short round, writes nothing

Configuration L of `recurrent_layer.py`: `LSTM(256)` then `Dense(1)` on batches of 64
sequences of 100 steps and 32 features, mean squared error, Adam, trained by our `fit`
(forward, backward, optimizer step; with two processes also the gradient all-reduce).
`batch_size=64` is the global batch: each of two processes runs 32 rows.

Each configuration is launched with `torchrun --nproc_per_node=N` (N = 1 trains in one
process: `fit` sees a world of one), with the machine's cores split between the
processes (torch threads = cores / N). Each process warms up with a short fit, then times
`ROUNDS` fits of `BATCHES` global batches; a round's figure is samples (global) per second
of wall time on rank 0, after a barrier; the reported figure is the median round. Peak
memory is each process's peak resident size (VmHWM) at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SECTION = "distributed"
COMMAND = "python benchmarks/distributed.py"
BATCH, STEPS, FEATURES, UNITS = 64, 100, 32, 256
BATCHES = 12  # global batches per timed round
ROUNDS = 5
PROCESSES = (1, 2)


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def worker(out: Path, rounds: int, batches: int) -> None:
    """One process of a torchrun launch: times `fit` and writes its figures as JSON."""
    import numpy as np
    import torch
    import torch.distributed as dist

    import unrolled

    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH * batches, STEPS, FEATURES)).astype(np.float32)
    y = rng.normal(size=(BATCH * batches, 1)).astype(np.float32)
    torch.manual_seed(0)
    model = unrolled.Sequential(
        [unrolled.Input((STEPS, FEATURES)), unrolled.LSTM(UNITS), unrolled.Dense(1)]
    )
    model.compile(optimizer="adam", loss="mse")
    baseline = _status_kib("VmRSS")
    model.fit(x[: 2 * BATCH], y[: 2 * BATCH], batch_size=BATCH, epochs=1, verbose=0)  # warm-up
    throughputs = []
    for _ in range(rounds):
        if dist.is_initialized():
            dist.barrier()
        start = time.perf_counter()
        model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
        throughputs.append(len(x) / (time.perf_counter() - start))
    figures = {
        "rank": rank,
        "world": world,
        "threads": torch.get_num_threads(),
        "samples_per_s": throughputs,
        "baseline_mib": baseline / 1024,
        "peak_mib": _status_kib("VmHWM") / 1024,
        "path": model.layers[0].last_path.name,
        "fit_path": getattr(getattr(model._trainer, "last_path", None), "name", "reference"),
    }
    (out / f"rank{rank}.json").write_text(json.dumps(figures))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def launch(processes: int, rounds: int, batches: int) -> list[dict]:
    with tempfile.TemporaryDirectory() as directory:
        out = Path(directory)
        env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
        env.pop("OMP_NUM_THREADS", None)  # the worker sets its threads itself
        command = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            f"--nproc_per_node={processes}",
            "--master_addr=127.0.0.1",
            f"--master_port={_free_port()}",
            __file__,
            "--worker",
            str(out),
            f"--rounds={rounds}",
            f"--batches={batches}",
        ]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            raise RuntimeError(f"torchrun failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
        return [json.loads((out / f"rank{r}.json").read_text()) for r in range(processes)]


def section(results: dict[int, list[dict]], seconds: float, load: tuple[str, str]) -> str:
    from report import header_lines

    single = statistics.median(results[1][0]["samples_per_s"])
    rows = [
        "| processes | torch threads each | rows per process per step | samples/s median |"
        " best round | rounds | median vs 1 process | peak RSS per process | RSS after imports |",
        "|---:|---:|---:|---:|---:|---|---:|---|---|",
    ]
    for processes, ranks in sorted(results.items()):
        rate = statistics.median(ranks[0]["samples_per_s"])
        best = max(ranks[0]["samples_per_s"])
        rounds = ", ".join(f"{r:.0f}" for r in ranks[0]["samples_per_s"])
        peaks = ", ".join(f"{r['peak_mib']:.0f} MiB" for r in ranks)
        bases = ", ".join(f"{r['baseline_mib']:.0f} MiB" for r in ranks)
        rows.append(
            f"| {processes} | {ranks[0]['threads']} | {BATCH // processes} | {rate:.0f} |"
            f" {best:.0f} | {rounds} | {rate / single:.2f}x | {peaks} | {bases} |"
        )
    return "\n".join(
        [
            "## Distributed fit: one process vs two (torchrun, gloo, CPU)",
            "",
            *header_lines(COMMAND, seconds),
            f"- Load average (1, 5, 15 min): {load[0]} before the run, {load[1]} after.",
            f"- Model and data: configuration L, `LSTM({UNITS})` + `Dense(1)` on (batch {BATCH},"
            f" {STEPS} steps, {FEATURES} features), MSE, Adam, through `fit` (fused path); global"
            f" batch {BATCH}, split over the processes. Each round is one epoch of {BATCHES}"
            f" global batches; {ROUNDS} rounds after a warm-up fit.",
            "- The machine's cores are split between the processes (torch threads = cores /"
            " processes), so two processes do not get more arithmetic than one: on one machine"
            " the figure shows what the gradient all-reduce and the smaller per-process batch"
            " cost. Data parallelism pays where each process brings its own cores or GPU"
            " (several machines, one process per GPU).",
            "- On a shared machine one process with 2 OpenMP threads is fragile: when another job"
            " takes a core, its threads wait for each other and a round can run several times"
            " slower; one thread per process does not suffer that. Compare the best rounds for"
            " the machine's capacity, the medians for what a busy machine gives.",
            "",
            *rows,
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one short round; writes nothing")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=ROUNDS, help=argparse.SUPPRESS)
    parser.add_argument("--batches", type=int, default=BATCHES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        worker(args.worker, args.rounds, args.batches)
        return 0
    os.environ.setdefault("KERAS_BACKEND", "torch")  # report.header_lines names Keras's version
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from report import RESULTS, load_average, write_section

    rounds, batches = (1, 3) if args.quick else (ROUNDS, BATCHES)
    load_before = load_average()
    start = time.perf_counter()
    results = {}
    for processes in PROCESSES:
        results[processes] = launch(processes, rounds, batches)
        ranks = results[processes]
        print(
            f"{processes} process(es): samples/s per round {[round(r) for r in ranks[0]['samples_per_s']]},"
            f" peak RSS {[round(r['peak_mib']) for r in ranks]} MiB, LSTM path {ranks[0]['path']},"
            f" fit path {ranks[0]['fit_path']}",
            flush=True,
        )
    elapsed = time.perf_counter() - start
    if not args.quick:
        write_section(SECTION, section(results, elapsed, (load_before, load_average())))
        print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
