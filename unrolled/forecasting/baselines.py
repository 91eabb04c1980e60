"""The forecasts to beat, and the error measures, written out in NumPy."""

from __future__ import annotations

import numpy as np


def naive(history: np.ndarray, steps: int) -> np.ndarray:
    """Repeats the last known value: `(steps,)`."""
    return np.full(steps, float(history[-1]))


def seasonal_naive(history: np.ndarray, steps: int, season: int) -> np.ndarray:
    """Repeats the last known season: value `t` is the value `season` steps before it."""
    last_season = np.asarray(history[-season:], dtype=np.float64)
    return np.resize(last_season, steps)


def errors(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """RMSE, MAE and MAPE (percent; skipped where the actual value is 0)."""
    actual = np.asarray(actual, dtype=np.float64)
    difference = np.asarray(predicted, dtype=np.float64) - actual
    nonzero = actual != 0
    mape = (
        float(np.mean(np.abs(difference[nonzero] / actual[nonzero])) * 100)
        if nonzero.any()
        else float("nan")
    )
    return {
        "rmse": float(np.sqrt(np.mean(difference**2))),
        "mae": float(np.mean(np.abs(difference))),
        "mape": mape,
    }
