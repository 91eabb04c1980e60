"""The forecasts to beat (naive, seasonal naive, Holt-Winters), and the error measures."""

from __future__ import annotations

import warnings
from typing import Any

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


class ExponentialSmoothing:
    """Holt-Winters through statsmodels (the `baselines` extra), fitted once, applied to later data.

    Additive damped trend; a seasonal part (multiplicative for positive series, else additive)
    where `season` is given and the history holds two seasons. `fit` estimates the parameters
    and initial states; `forecast` runs the same model over a longer history without
    re-estimating, as a fitted recurrent model reads a later window.

    Raises:
        ImportError: statsmodels is not installed (`pip install unrolled[baselines]`).
    """

    def __init__(self, season: int | None = None) -> None:
        from statsmodels.tsa.holtwinters import ExponentialSmoothing as _HoltWinters

        self._model_class = _HoltWinters
        self.season = season
        self.params: dict[str, Any] = {}
        self.options: dict[str, Any] = {}

    def fit(self, history: np.ndarray) -> ExponentialSmoothing:
        history = np.asarray(history, dtype=np.float64)
        seasonal = None
        if self.season and self.season > 1 and len(history) >= 2 * self.season:
            seasonal = "mul" if bool((history > 0).all()) else "add"
        self.options = {
            "trend": "add",
            "damped_trend": True,
            "seasonal": seasonal,
            "seasonal_periods": self.season if seasonal else None,
        }
        with warnings.catch_warnings():  # convergence chatter on short series
            warnings.simplefilter("ignore")
            self.params = dict(self._model_class(history, **self.options).fit().params)
        return self

    def get_state(self) -> dict[str, Any]:
        """The fitted parameters and options as JSON values (saved beside a report's model)."""
        return {
            "season": self.season,
            "options": self.options,
            "params": {k: _json_value(self.params.get(k)) for k in _STATE_PARAMS},
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ExponentialSmoothing:
        """The model `get_state` described, ready to forecast (no fit)."""
        model = cls(state["season"])
        model.options = dict(state["options"])
        model.params = {
            k: np.asarray(v, dtype=np.float64) if isinstance(v, list) else v
            for k, v in state["params"].items()
        }
        return model

    def forecast(self, history: np.ndarray, steps: int) -> np.ndarray:
        """The `steps` values after `history (timesteps,)` with the fitted parameters: `(steps,)`."""
        p = self.params
        known = {"initial_level": p["initial_level"], "initial_trend": p["initial_trend"]}
        if self.options["seasonal"]:
            known["initial_seasonal"] = p["initial_seasons"]
        fixed = {
            k: p[k]
            for k in ("smoothing_level", "smoothing_trend", "smoothing_seasonal", "damping_trend")
            if p.get(k) is not None and (k != "smoothing_seasonal" or self.options["seasonal"])
        }
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = self._model_class(
                np.asarray(history, dtype=np.float64),
                initialization_method="known",
                **known,
                **self.options,
            )
            result = model.fit(**fixed, optimized=False)
        out = np.asarray(result.forecast(steps), dtype=np.float64)
        # A diverging multiplicative fit is no forecast; fall back to the last value.
        return out if np.isfinite(out).all() else naive(history, steps)


_STATE_PARAMS = (
    "initial_level",
    "initial_trend",
    "initial_seasons",
    "smoothing_level",
    "smoothing_trend",
    "smoothing_seasonal",
    "damping_trend",
)


def _json_value(value: Any) -> Any:
    # statsmodels gives NaN for a parameter the model has not (no season): JSON null.
    if value is None:
        return None
    array = np.asarray(value, dtype=np.float64)
    if array.ndim:
        return array.tolist()
    return float(array) if np.isfinite(array) else None


def statsmodels_missing() -> str | None:
    """Why exponential smoothing is unavailable (statsmodels not installed), or None."""
    try:
        import statsmodels.tsa.holtwinters  # noqa: F401
    except ImportError:
        return (
            "exponential smoothing skipped: statsmodels is not installed "
            "(pip install 'unrolled[baselines]')"
        )
    return None
