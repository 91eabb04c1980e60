"""`compile_kernels()`: every compiled path's kernel built ahead of its first real use.

numba compiles a kernel the first time a fit or forecast needs it (3 to 40 s each on a
2-core machine) and caches it on disk. Calling this once, say while building a Docker image
or a CI cache, moves that wait out of the first real run. It trains and forecasts tiny
models through the public API, so the kernels are the ones real calls use.
"""

from __future__ import annotations

import importlib
import random
from collections.abc import Iterator
from contextlib import contextmanager
from time import perf_counter
from typing import Any

import numpy as np
import torch

from unrolled.compiled.jit import will_compile
from unrolled.layers.core import Dense
from unrolled.layers.input_layer import Input
from unrolled.layers.lstm import LSTM
from unrolled.models.rollout import forecast
from unrolled.models.sequential import Sequential


def _row_fit() -> Any:
    """A fit small enough for the row-by-row kernel (`fit_kernel`)."""
    model = Sequential([Input((3, 1)), LSTM(4), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    x = np.zeros((4, 3, 1), np.float32)
    model.fit(x, x[:, -1], batch_size=2, epochs=1, verbose=0)
    return model.last_fit_path


def _batched_fit() -> Any:
    """A fit just above the row kernel's limit, 2^20 multiply-adds a batch (`stack_kernel`)."""
    model = Sequential([Input((8, 8)), LSTM(64), Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    x = np.zeros((8, 8, 8), np.float32)
    model.fit(x, x[:, -1, :1], batch_size=8, epochs=1, verbose=0)
    return model.last_fit_path


def _forecast() -> Any:
    """A forecast on the rollout kernel (`rollout_kernel`)."""
    model = Sequential([Input((None, 2)), LSTM(4, return_sequences=True), Dense(2)])
    forecast(model, np.zeros((5, 2), np.float32), 3)
    return model.last_forecast_path


@contextmanager
def _random_state_kept() -> Iterator[None]:
    """Python's, NumPy's and torch's CPU generators as they were before (`set_random_seed`'s)."""
    python_state, numpy_state = random.getstate(), np.random.get_state()
    try:
        with torch.random.fork_rng(devices=[]):
            yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)


# Each kernel: its name, the tiny run that uses it, and where its numba dispatcher lives.
_KERNELS = (
    ("fit, row by row", _row_fit, "unrolled.compiled.fit_kernel", "fit_epoch"),
    ("fit, batched", _batched_fit, "unrolled.compiled.stack_kernel", "fit_epoch_stack"),
    ("forecast", _forecast, "unrolled.compiled.rollout_kernel", "rollout"),
)


def compile_kernels() -> dict[str, str]:
    """Compiles every compiled path's kernel now, or loads it from numba's disk cache.

    Returns:
        For each kernel (`"fit, row by row"`, `"fit, batched"`, `"forecast"`), what happened:
        `"compiled in 12.3 s"`, `"loaded from the cache in 0.4 s"`, or why that path cannot
        run here (numba not installed, no MKL in this PyTorch build...).

    Example:
        >>> unrolled.compile_kernels()  # doctest: +SKIP
        {'fit, row by row': 'compiled in 12.3 s', 'fit, batched': 'compiled in 31.0 s', ...}
    """
    results: dict[str, str] = {}
    for name, run, module, dispatcher in _KERNELS:
        started = perf_counter()
        try:  # imported only now: numba is optional
            compiles = will_compile(getattr(importlib.import_module(module), dispatcher))
        except ImportError:  # numba, or MKL for the batched kernel: the run says which
            compiles = False
        with _random_state_kept():  # the tiny models' weights must not shift the user's seeds
            path = run()
        seconds = perf_counter() - started
        # Declined, with the reason (a batch above the row kernel's limit never falls back to it)
        if not path.name.startswith("compiled"):
            results[name] = f"not available: {path.reason}"
        elif compiles:
            results[name] = f"compiled in {seconds:.1f} s"
        else:
            results[name] = f"loaded from the cache in {seconds:.1f} s"
    return results
