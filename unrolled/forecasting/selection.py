"""Rolling-origin backtests of every candidate forecast, inside the training part.

A candidate is fitted at each origin on the rows before it and forecasts the horizon
after it; its score is the RMSE of those forecasts. The fitted candidate also forecasts
from every later row up to the next origin (data it has not been trained on), which gives
the residuals per horizon step that the conformal intervals are built from; a fit at an
earlier calibration origin lengthens that window back over more of the training part.
A combination candidate is the mean of two others' forecasts (the best recurrent one and
the best baseline), backtested from their forecasts without another fit.

    >>> origins = rolling_origins(rows=120, horizon=24, count=3)
    >>> origins
    [72, 84, 96]
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from unrolled.forecasting.baselines import ExponentialSmoothing, errors, naive, seasonal_naive
from unrolled.forecasting.forecaster import Forecaster, ForecastSettings

RECURRENT, BASELINE, COMBINATION = "recurrent", "baseline", "combination"


class Predictor(Protocol):
    def forecast(self, history: np.ndarray, steps: int) -> np.ndarray:
        """The target's `steps` values after `history (timesteps, features)`: `(steps,)`."""
        ...


@dataclass(frozen=True)
class Candidate:
    """One forecast to try: a baseline by name, a recurrent configuration, or the mean of two."""

    name: str
    kind: str  # RECURRENT, BASELINE or COMBINATION
    settings: ForecastSettings | None = None  # recurrent candidates only
    parts: tuple[Candidate, ...] = ()  # combination candidates only

    @classmethod
    def combination(cls, *parts: Candidate) -> Candidate:
        """The mean of `parts`' forecasts."""
        names = [p.settings.cell.upper() if p.settings else p.name for p in parts]
        return cls(f"mean of {' and '.join(names)}", COMBINATION, parts=parts)

    def fit(
        self,
        history: np.ndarray,
        columns: list[str],
        season: int | None,
        callbacks: Callable[[int], Any] | None = None,
    ) -> Predictor:
        """Fits on `history (timesteps, features)` (the target first)."""
        if self.kind == COMBINATION:
            return Mean([p.fit(history, columns, season, callbacks) for p in self.parts])
        if self.kind == RECURRENT:
            forecaster = Forecaster(self.settings)
            forecaster.fit(history, columns, callbacks=callbacks)
            return _Recurrent(forecaster)
        if self.name == "naive":
            return _Rule(lambda h, steps: naive(h, steps))
        if self.name == "seasonal naive":
            return _Rule(lambda h, steps: seasonal_naive(h, steps, season))
        if self.name == "exponential smoothing":
            return _Smoothing(ExponentialSmoothing(season).fit(history[:, 0]))
        raise ValueError(f"Unknown baseline {self.name!r}.")


@dataclass(eq=False)  # compared by identity: one backtest, one run
class Backtest:
    """A candidate's rolling-origin backtest; `pruned` where it stopped after fewer origins."""

    candidate: Candidate
    origins: list[int]
    predictions: np.ndarray  # (origins run, horizon): the forecast from each origin
    actuals: np.ndarray  # (origins run, horizon)
    predictors: list[Predictor]  # fitted at each origin
    seconds: float
    pruned: bool = False
    errors: dict[str, float] = field(default_factory=dict)  # rmse, mae, mape over the origins run

    def __post_init__(self) -> None:
        self.errors = errors(self.actuals.ravel(), self.predictions.ravel())

    def on(self, origins: list[int]) -> Backtest:
        """The same backtest over `origins` only (each one it ran), errors recomputed."""
        keep = [self.origins.index(o) for o in origins]
        return Backtest(
            self.candidate,
            list(origins),
            self.predictions[keep],
            self.actuals[keep],
            [self.predictors[k] for k in keep],
            self.seconds,
        )

    def then(self, later: Backtest) -> Backtest:
        """This backtest followed by `later`, the same candidate run on later origins."""
        return Backtest(
            self.candidate,
            self.origins + later.origins,
            np.concatenate([self.predictions, later.predictions]),
            np.concatenate([self.actuals, later.actuals]),
            self.predictors + later.predictors,
            self.seconds + later.seconds,
        )

    def origin_rmse(self) -> np.ndarray:
        """The RMSE of the forecast from each origin run: `(origins run,)`."""
        return np.sqrt(np.mean((self.predictions - self.actuals) ** 2, axis=1))

    def residuals(
        self,
        values: np.ndarray,
        calibration: tuple[int, Predictor] | None = None,
        relative: bool = False,
    ) -> list[np.ndarray]:
        """`[h]`: actual - forecast `h + 1` steps ahead, from every row between the origins.

        The model fitted at an origin also forecasts from each later row up to the next
        origin: rows it was not trained on, so every such forecast is out of sample.
        `calibration`: `(origin, predictor fitted on the rows before it)`, an origin before
        the first one, which forecasts from each row up to the first origin as well.
        `relative`: (actual - forecast) / forecast instead, for a positive series whose
        errors grow with its level.
        """
        rows, horizon = len(values), self.predictions.shape[1]
        origins, predictors = list(self.origins), list(self.predictors)
        known = {k: p for k, p in enumerate(self.predictions)}
        if calibration is not None and calibration[0] < origins[0]:
            origins.insert(0, calibration[0])
            predictors.insert(0, calibration[1])
            known = {k + 1: p for k, p in known.items()}
        out: list[list[float]] = [[] for _ in range(horizon)]
        for k, (origin, predictor) in enumerate(zip(origins, predictors)):
            following = origins[k + 1] if k + 1 < len(origins) else rows
            for start in range(origin, following):
                steps = min(horizon, rows - start)
                predicted = (
                    known[k]
                    if start == origin and k in known
                    else predictor.forecast(values[:start], steps)
                )
                for h in range(steps):
                    error = float(values[start + h, 0] - predicted[h])
                    out[h].append(error / abs(float(predicted[h])) if relative else error)
        return [np.asarray(r) for r in out]


def combine(parts: list[Backtest]) -> Backtest:
    """The backtest of the mean of `parts`' forecasts (each run on the same origins)."""
    return Backtest(
        Candidate.combination(*(b.candidate for b in parts)),
        list(parts[0].origins),
        np.mean([b.predictions for b in parts], axis=0),
        parts[0].actuals,
        [Mean(list(ps)) for ps in zip(*(b.predictors for b in parts))],
        0.0,
    )


def rolling_origins(rows: int, horizon: int, count: int = 3, first: int = 1) -> list[int]:
    """`count` origins, `ceil(horizon / 2)` apart, the last one `horizon` rows before the end.

    Origins before row `first` (too little to train on) are dropped.
    """
    stride = max(1, -(-horizon // 2))
    last = rows - horizon
    return [o for o in (last - k * stride for k in reversed(range(count))) if o >= first]


def recurrent_grid(base: ForecastSettings, season: int | None) -> list[ForecastSettings]:
    """The user's configuration first, then one change at a time: look-back of one and two
    seasons, the other transform, half the width (duplicates dropped)."""
    variants = [base]
    for look_back in [season, 2 * season] if season else []:
        variants.append(replace(base, look_back=look_back))
    variants.append(replace(base, transform="none" if base.transform != "none" else "auto"))
    variants.append(replace(base, units=[max(2, u // 2) for u in base.units]))
    unique: list[ForecastSettings] = []
    for v in variants:
        if v not in unique:
            unique.append(v)
    return unique


def recurrent_name(s: ForecastSettings) -> str:
    units = ",".join(str(u) for u in s.units)
    return f"{s.cell.upper()} look_back={s.look_back} units={units} transform={s.transform}"


def run_backtest(
    candidate: Candidate,
    values: np.ndarray,
    columns: list[str],
    origins: list[int],
    horizon: int,
    season: int | None,
    callbacks: Callable[[int, int], Any] | None = None,
    prune: Callable[[int, float], bool] | None = None,
) -> Backtest:
    """Backtests `candidate` on `values (rows, features)`; `callbacks(origin_index, member)`.

    `prune(k, rmse)` sees the RMSE over origins `0..k` after each origin; where it returns
    True the backtest stops there (`pruned`), which saves the fits of a hopeless candidate.
    """
    started = time.perf_counter()
    predictions, predictors = [], []
    for k, origin in enumerate(origins):
        member_callbacks = (lambda m, k=k: callbacks(k, m)) if callbacks else None
        predictor = candidate.fit(values[:origin], columns, season, member_callbacks)
        predictors.append(predictor)
        predictions.append(predictor.forecast(values[:origin], horizon))  # (horizon,)
        actual = np.stack([values[o : o + horizon, 0] for o in origins[: k + 1]])
        so_far = errors(actual.ravel(), np.ravel(predictions))["rmse"]
        if k + 1 < len(origins) and prune is not None and prune(k, so_far):
            break
    run = len(predictions)
    return Backtest(
        candidate,
        origins[:run],
        np.stack(predictions),
        np.stack([values[o : o + horizon, 0] for o in origins[:run]]),
        predictors,
        time.perf_counter() - started,
        pruned=run < len(origins),
    )


class Mean:
    """The mean of several fitted predictors' forecasts."""

    def __init__(self, parts: list[Predictor]) -> None:
        self.parts = parts

    def forecast(self, history: np.ndarray, steps: int) -> np.ndarray:
        return np.mean([p.forecast(history, steps) for p in self.parts], axis=0)


class _Rule:
    def __init__(self, rule: Callable[[np.ndarray, int], np.ndarray]) -> None:
        self.rule = rule

    def forecast(self, history: np.ndarray, steps: int) -> np.ndarray:
        return self.rule(history[:, 0], steps)


class _Smoothing:
    def __init__(self, model: ExponentialSmoothing) -> None:
        self.model = model

    def forecast(self, history: np.ndarray, steps: int) -> np.ndarray:
        return self.model.forecast(history[:, 0], steps)


class _Recurrent:
    def __init__(self, forecaster: Forecaster) -> None:
        self.forecaster = forecaster

    def forecast(self, history: np.ndarray, steps: int) -> np.ndarray:
        return self.forecaster.forecast(steps, history)[:, 0]
