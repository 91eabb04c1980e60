"""Where a compiled epoch spends its time, by kernel function: `perf` with numba's names.

perf shows numba's machine code as anonymous JIT addresses. This script trains one of
`common_models.py`'s models in a loop, writes `/tmp/perf-<pid>.map` (each compiled
function's address and its name, which perf reads for JIT code), records the process with
`perf record` for a few seconds and prints the hottest functions: MKL's sgemm routines by
their own names, ours as `stack_kernel._direction_backward`, `batched_kernel._exp`, ....

Only freshly compiled kernels carry the LLVM module the addresses come from, so the run
compiles them into an empty numba cache first (a minute or two).

    python benchmarks/profile_kernels.py tagger               # 1 thread
    python benchmarks/profile_kernels.py imdb --threads 2 --seconds 8
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def write_perf_map() -> int:
    """Writes `/tmp/perf-<pid>.map` for every numba function of `unrolled.compiled` loaded
    in this process; returns how many. A function runs to the next one's address."""
    from numba.core.registry import CPUDispatcher

    names: dict[int, str] = {}
    for module in list(sys.modules.values()):
        if not getattr(module, "__name__", "").startswith("unrolled.compiled"):
            continue
        for dispatcher in vars(module).values():
            if not isinstance(dispatcher, CPUDispatcher):
                continue
            for compiled in dispatcher.overloads.values():
                library = compiled.library
                llvm_module = getattr(library, "_final_module", None)
                for function in llvm_module.functions if llvm_module is not None else ():
                    if function.is_declaration:
                        continue
                    address = library.get_pointer_to_function(function.name)
                    if address:
                        names[address] = _readable(function.name)
    starts = sorted(names)
    with open(f"/tmp/perf-{os.getpid()}.map", "w") as out:
        for start, end in zip(starts, [*starts[1:], starts[-1] + 4096] if starts else []):
            out.write(f"{start:x} {min(end - start, 1 << 20):x} {names[start]}\n")
    return len(starts)


def _readable(mangled: str) -> str:
    """`module.function` out of numba's mangled name (`..8compiled12stack_kernel11_train_rows
    B3v31...`: each word after its length)."""
    rest, words = mangled.split("compiled", 1)[-1], []
    while len(words) < 2:
        digits = re.match(r"\d+", rest)
        if digits is None:
            break
        end = digits.end() + int(digits.group())
        words.append(rest[digits.end() : end])
        rest = rest[end:]
    return ".".join(words) or mangled[:80]


def child(model: str, threads: int, epochs: int) -> None:
    import torch

    torch.set_num_threads(threads)
    sys.path.insert(0, str(HERE))
    import common_models

    import unrolled

    epoch, path = common_models.keras_api_epoch(unrolled, model)
    print(f"mapped {write_perf_map()} functions; path: {path}", flush=True)
    for _ in range(epochs):
        epoch()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", help="one of common_models.py's models")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=5.0, help="how long perf records")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    cache = tempfile.mkdtemp(prefix="numba-cache-")
    env = {**os.environ, "NUMBA_CACHE_DIR": cache, "KERAS_BACKEND": "torch"}
    code = (
        f"import sys; sys.path.insert(0, {str(HERE)!r}); import profile_kernels; "
        f"profile_kernels.child({args.model!r}, {args.threads}, 100000)"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env
    )
    assert process.stdout is not None
    print(process.stdout.readline().strip(), flush=True)  # compiled and mapped: now record
    time.sleep(1.0)
    record = Path(cache) / "perf.data"
    try:
        subprocess.run(
            [
                "perf",
                "record",
                "-o",
                str(record),
                "-p",
                str(process.pid),
                "--",
                "sleep",
                str(args.seconds),
            ],  # fmt: skip
            check=True,
            capture_output=True,
        )
    finally:
        process.kill()
        process.wait()
    report = subprocess.run(
        ["perf", "report", "-i", str(record), "--no-children", "--sort", "sym", "--stdio"],
        capture_output=True,
        text=True,
    ).stdout
    shutil.rmtree(cache, ignore_errors=True)
    Path(f"/tmp/perf-{process.pid}.map").unlink(missing_ok=True)
    rows = [line for line in report.splitlines() if "%" in line and not line.startswith("#")]
    print("\n".join(row[:120] for row in rows[: args.top]))


if __name__ == "__main__":
    main()
