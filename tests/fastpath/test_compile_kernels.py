"""`unrolled.compile_kernels()` and `unrolled compile-kernels` on an empty numba cache: every
kernel is compiled (numba's own counters agree), and the next process loads them all.

About a minute: the kernels really compile, as on a fresh machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("numba")
blas = pytest.importorskip("unrolled.compiled.blas")

CHILD = """
import json
import unrolled
results = unrolled.compile_kernels()
from unrolled.compiled.stack_kernel import fit_epoch_stack
from unrolled.compiled.fit_kernel import fit_epoch
from unrolled.compiled.rollout_kernel import rollout
kernels = {"fit, row by row": fit_epoch, "fit, batched": fit_epoch_stack, "forecast": rollout}
misses = {name: sum(k.stats.cache_misses.values()) for name, k in kernels.items()}
print(json.dumps([results, misses]))
"""


def test_compile_kernels_builds_every_kernel_once_per_machine(tmp_path):
    if blas.missing() is not None:
        pytest.skip(blas.missing())
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}

    def run(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, *args], env=env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    results, misses = json.loads(run("-c", CHILD).strip().splitlines()[-1])
    assert set(results) == {"fit, row by row", "fit, batched", "forecast"}
    for name, result in results.items():
        assert result.startswith("compiled in "), (name, result)
        assert misses[name] == 1, (name, misses)  # numba compiled it in this process
    # A new process, the same cache: the command line reports each kernel loaded.
    lines = run("-m", "unrolled", "compile-kernels").strip().splitlines()
    assert [line.split(":")[0] for line in lines] == list(results)
    for line in lines:
        assert ": loaded from the cache in " in line, line


def test_unavailable_paths_say_why(monkeypatch):
    from unrolled.compiled import jit

    monkeypatch.setattr(jit, "NUMBA_FOUND", False)
    import unrolled

    results = unrolled.compile_kernels()
    assert set(results) == {"fit, row by row", "fit, batched", "forecast"}
    for result in results.values():
        assert result.startswith("not available: numba is not installed"), result


def test_user_seeds_are_not_shifted():
    """Building the tiny models draws weights: the generators are put back as they were."""
    import random

    import numpy as np
    import torch

    import unrolled

    def draws():
        return torch.rand(3).tolist(), np.random.rand(3).tolist(), random.random()

    unrolled.set_random_seed(5)
    expected = draws()
    unrolled.set_random_seed(5)
    unrolled.compile_kernels()
    assert draws() == expected
