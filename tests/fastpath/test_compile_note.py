"""The line `fit` prints before a kernel's first call compiles it (tens of seconds, once).

`will_compile` is checked against numba itself: its dispatcher's own cache counters say, after
the call, whether it compiled (a cache miss) or loaded from disk (a hit).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import unrolled
from unrolled.compiled import fit_plan, fit_runner
from unrolled.layers import LSTM, Dense

pytest.importorskip("numba")

CHILD = """
import json, sys
sys.path.insert(0, {folder!r})
from unrolled.compiled.jit import will_compile
import tiny
before = will_compile(tiny.add_one)
tiny.add_one(1.0)
after = will_compile(tiny.add_one)
stats = tiny.add_one.stats
print(json.dumps([before, after, sum(stats.cache_misses.values()), sum(stats.cache_hits.values())]))
"""


def _tiny_kernel(folder, body: str) -> None:
    source = f"""
    from unrolled.compiled.jit import kernel

    @kernel  # as the real kernels: numba's cache, keyed on the kernel sources too
    def add_one(x):
        return {body}
    """
    (folder / "tiny.py").write_text(textwrap.dedent(source))


def _first_call(folder) -> tuple[bool, bool, int, int]:
    """In a fresh process: will_compile before and after the first call, then numba's cache
    misses and hits for that call."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(folder / "cache")}
    out = subprocess.run(
        [sys.executable, "-c", CHILD.format(folder=str(folder))],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return tuple(json.loads(out.stdout.strip().splitlines()[-1]))


def test_will_compile_agrees_with_numbas_cache_counters(tmp_path):
    _tiny_kernel(tmp_path, "x + 1.0")
    # An empty cache: numba compiles (a miss), and it is loaded in the process afterwards.
    assert _first_call(tmp_path) == (True, False, 1, 0)
    # The next process loads it from disk (a hit).
    assert _first_call(tmp_path) == (False, False, 0, 1)
    # An edited source makes the cached version stale: numba compiles again.
    _tiny_kernel(tmp_path, "x + 20.0")  # a new size: a new stamp even where mtimes are coarse
    assert _first_call(tmp_path) == (True, False, 1, 0)


def _fit(verbose: int) -> None:
    x = np.random.default_rng(0).normal(size=(8, 3, 1)).astype(np.float32)
    model = unrolled.Sequential([LSTM(4, input_shape=(3, 1)), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, x[:, -1], epochs=1, batch_size=4, verbose=verbose)
    assert model.last_fit_path[0] == "compiled-epoch", model.last_fit_path


@pytest.mark.parametrize("compiles", [True, False])
@pytest.mark.parametrize("verbose", [0, 1, 2])
def test_fit_says_when_its_kernel_compiles(monkeypatch, capsys, compiles, verbose):
    monkeypatch.setattr(fit_runner, "will_compile", lambda dispatcher: compiles)
    _fit(verbose)
    printed = capsys.readouterr().out
    expected = compiles and verbose > 0
    assert ("Compiling the fit kernel (once per machine" in printed) is expected, printed
    if expected:  # before the first epoch's line, which would otherwise sit there silently
        assert printed.index("Compiling") < printed.index("Epoch 1/1")


def test_the_note_names_the_batched_kernel(monkeypatch, capsys):
    from unrolled.compiled import blas

    if blas.missing() is not None:
        pytest.skip(blas.missing())
    monkeypatch.setattr(fit_runner, "will_compile", lambda dispatcher: True)
    monkeypatch.setattr(fit_plan, "MAX_WORK_PER_BATCH", 0)
    monkeypatch.setattr(fit_plan, "_threads_for", lambda rows, units: 2)
    _fit(2)
    assert "Compiling the batched fit kernel" in capsys.readouterr().out
