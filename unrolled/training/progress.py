"""What fit, evaluate and predict print, to stdout as Keras does.

verbose=0 prints nothing. verbose=2 prints Keras 3's two lines per epoch::

    Epoch 3/10
    3/3 - 0s - 5ms/step - loss: 0.1234 - mae: 0.2000 - val_loss: 0.1300

verbose=1 (and "auto") shows a tqdm progress bar per epoch whose text is refreshed
at most every 0.1 s, so the running loss is read from the device only that often;
without tqdm installed it prints the verbose=2 line.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

REFRESH_SECONDS = 0.1


def format_logs(logs: dict[str, Any]) -> str:
    """` - loss: 0.1234 - mae: 2.0000e-04`, Keras's number format."""
    parts = []
    for key, value in logs.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            parts.append(f" - {key}: {value}")
            continue
        parts.append(f" - {key}: {number:.4f}" if number > 1e-3 else f" - {key}: {number:.4e}")
    return "".join(parts)


def format_step_time(seconds_per_step: float) -> str:
    if seconds_per_step >= 1 or seconds_per_step == 0:
        return f"{seconds_per_step:.0f}s/step"
    if seconds_per_step >= 1e-3:
        return f"{seconds_per_step * 1e3:.0f}ms/step"
    return f"{seconds_per_step * 1e6:.0f}us/step"


def resolve_verbose(verbose: int | str) -> int:
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2) or isinstance(verbose, bool):
        from unrolled.errors import ConfigError

        raise ConfigError(
            f"Argument `verbose` must be 0, 1, 2 or 'auto'. Received: verbose={verbose!r}"
        )
    return int(verbose)


class Progress:
    """Prints one run (an epoch of fit, or an evaluate/predict pass)."""

    def __init__(self, verbose: int, steps: int | None) -> None:
        self.verbose = verbose
        self.steps = steps
        self._bar: Any = None
        self._start = 0.0
        self._last_refresh = 0.0

    def epoch_begin(self, epoch: int, epochs: int) -> None:
        if self.verbose:
            print(f"Epoch {epoch + 1}/{epochs}", file=sys.stdout, flush=True)
        self.begin()

    def begin(self) -> None:
        self._start = self._last_refresh = time.perf_counter()
        if self.verbose == 1:
            self._bar = _tqdm_bar(self.steps)

    def batch_end(self, logs: Callable[[], dict[str, Any]] | None) -> None:
        """After each batch; `logs()` is called only when the bar's text is refreshed."""
        if self._bar is None:
            return
        self._bar.update(1)
        if logs is not None:
            now = time.perf_counter()
            if now - self._last_refresh >= REFRESH_SECONDS:
                self._last_refresh = now
                self._bar.set_postfix_str(format_logs(logs()).removeprefix(" - "), refresh=False)

    def end(self, logs: dict[str, Any], steps: int) -> None:
        """After the run, with the final logs (epoch logs including validation)."""
        if not self.verbose:
            return
        seconds = time.perf_counter() - self._start
        if self._bar is not None:
            self._bar.set_postfix_str(format_logs(logs).removeprefix(" - "), refresh=False)
            self._bar.close()
            self._bar = None
            return
        width = len(str(steps))
        per_step = format_step_time(seconds / steps if steps else 0.0)
        print(
            f"{steps:>{width}}/{steps} - {seconds:.0f}s - {per_step}{format_logs(logs)}",
            file=sys.stdout,
            flush=True,
        )


def _tqdm_bar(steps: int | None) -> Any:
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(
        total=steps,
        file=sys.stdout,
        leave=True,
        dynamic_ncols=True,
        mininterval=REFRESH_SECONDS,
        bar_format="{n_fmt}/{total_fmt} {bar:20} {elapsed} {rate_fmt}{postfix}",
        unit="step",
    )
