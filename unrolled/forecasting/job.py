"""The main job: backtest on the last steps against the naive forecasts, refit, forecast ahead.

`run_job` is what `unrolled demo` and `unrolled fit` do; it returns a `JobResult` and
the CLI writes it out with `report.write_report`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from unrolled.errors import ShapeError, positive_int
from unrolled.forecasting.baselines import errors, naive, seasonal_naive
from unrolled.forecasting.dates import continue_labels
from unrolled.forecasting.forecaster import Forecaster, ForecastSettings
from unrolled.forecasting.table import Table


@dataclass
class JobResult:
    """Everything the report shows."""

    table: Table
    settings: ForecastSettings
    test_steps: int
    season: int | None
    backtest: np.ndarray  # (test_steps,) the target column, forecast from the training part
    baselines: dict[str, np.ndarray]  # name -> (test_steps,)
    metrics: dict[str, dict[str, float]]  # name -> {"rmse", "mae", "mape"}
    future: np.ndarray  # (future_steps,) the target column after the data
    future_dates: list[str] | None
    forecaster: Forecaster  # refitted on all the data
    backtest_losses: list[float]


def run_job(
    table: Table,
    settings: ForecastSettings,
    test_steps: int = 24,
    future_steps: int = 24,
    season: int | None = 12,
    refit: bool = True,
    callbacks: Callable[[str], Any] | None = None,
) -> JobResult:
    """Backtests on the last `test_steps`, then refits on everything and forecasts `future_steps`.

    Args:
        callbacks: `callbacks(stage)` returns the Keras callbacks for stage "backtest" or
            "refit" (the CLI's progress bars).
    """
    test_steps = positive_int(test_steps, "test_steps")
    future_steps = positive_int(future_steps, "future_steps")
    if season is not None:
        season = positive_int(season, "season")
    values = table.values.astype(np.float64)
    needed = settings.look_back + settings.horizon + 1 + test_steps
    if len(values) < needed:
        raise ShapeError(
            f"The data has {len(values)} rows; look_back={settings.look_back}, horizon={settings.horizon} "
            f"and the last {test_steps} rows held out for testing need at least {needed}. "
            "Lower --look-back, --horizon or --test."
        )
    train, test = values[:-test_steps], values[-test_steps:, 0]
    evaluator = Forecaster(settings)
    evaluator.fit(train, table.columns, callbacks=callbacks("backtest") if callbacks else None)
    backtest = evaluator.forecast(test_steps)[:, 0]
    baselines = {"naive": naive(train[:, 0], test_steps)}
    if season and len(train) >= season:
        baselines["seasonal naive"] = seasonal_naive(train[:, 0], test_steps, season)
    metrics = {"model": errors(test, backtest)} | {
        name: errors(test, b) for name, b in baselines.items()
    }
    final = evaluator
    if refit:
        final = Forecaster(settings)
        final.fit(values, table.columns, callbacks=callbacks("refit") if callbacks else None)
    future = final.forecast(future_steps)[:, 0]
    return JobResult(
        table,
        settings,
        test_steps,
        season,
        backtest,
        baselines,
        metrics,
        future,
        table.future_dates(future_steps),
        final,
        evaluator.losses,
    )


def future_dates(dates: list[str] | None, steps: int) -> list[str] | None:
    """The next `steps` dates after regular dates (daily to yearly, see `dates`), else None."""
    return continue_labels(dates, steps)
