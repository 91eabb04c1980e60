"""Conformal prediction intervals from backtest residuals, one half-width per horizon step.

A forecast `h` steps ahead is as wrong as the backtest's forecasts `h` steps ahead were:
the half-width at step `h` is the conformal quantile of the absolute residuals at that
step (pooled with the neighbouring steps until there are enough of them), and never
narrower than at an earlier step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from unrolled.errors import ConfigError

MIN_RESIDUALS = 20  # pool neighbouring steps until a step has this many residuals


def parse_levels(text: str | Sequence[float]) -> list[float]:
    """`"80,95"` or `[80, 95]` to `[80.0, 95.0]` (percent, each in (0, 100))."""
    items = text.split(",") if isinstance(text, str) else list(text)
    try:
        levels = sorted({float(str(v).strip()) for v in items if str(v).strip()})
    except ValueError:
        raise ConfigError(
            f"--interval must be percentages separated by commas, e.g. 80,95. Received: {text!r}"
        ) from None
    for level in levels:
        if not 0 < level < 100:
            raise ConfigError(
                f"An interval level must be a percentage between 0 and 100, e.g. 80. Received: {level:g}"
            )
    return levels


def level_name(level: float) -> str:
    """80.0 -> "80", 97.5 -> "97.5" (the suffix of the CSV columns `lower_80`, `upper_80`)."""
    return f"{level:g}"


def half_widths(residuals: Sequence[np.ndarray], level: float, steps: int) -> np.ndarray:
    """Half-widths `(steps,)` from `residuals[h]`, the backtest's errors `h + 1` steps ahead.

    Steps past the last one with residuals reuse its width (the caller says so).
    """
    known = [np.abs(np.asarray(r, dtype=np.float64)) for r in residuals]
    if not known or not any(len(r) for r in known):
        return np.full(steps, np.nan)
    widths = np.empty(len(known))
    for h in range(len(known)):
        pooled, radius = known[h], 0
        while len(pooled) < MIN_RESIDUALS and radius < len(known):
            radius += 1
            window = known[max(0, h - radius) : h + radius + 1]
            pooled = np.concatenate(window)
        widths[h] = conformal_quantile(pooled, level)
    widths = np.maximum.accumulate(widths)  # uncertainty does not shrink with the horizon
    if steps > len(widths):
        widths = np.concatenate([widths, np.full(steps - len(widths), widths[-1])])
    return widths[:steps]


def conformal_quantile(scores: np.ndarray, level: float) -> float:
    """The split-conformal quantile: the ceil((n + 1) * level)-th smallest score (the largest if past n)."""
    scores = np.sort(np.asarray(scores, dtype=np.float64))
    rank = math.ceil((len(scores) + 1) * level / 100)
    return float(scores[min(rank, len(scores)) - 1])


def coverage(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """The share of `actual` inside `[lower, upper]`."""
    actual = np.asarray(actual, dtype=np.float64)
    return float(np.mean((actual >= lower) & (actual <= upper)))
