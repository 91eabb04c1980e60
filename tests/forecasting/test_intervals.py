"""Conformal intervals against closed forms: residuals by hand, and the widths and coverage of
a naive forecast on random walks, whose h-step error is N(0, h) exactly."""

from __future__ import annotations

import numpy as np

from unrolled.forecasting.intervals import coverage, half_widths
from unrolled.forecasting.selection import BASELINE, Candidate, rolling_origins, run_backtest

Z80 = 1.2816  # the standard normal's 90th percentile: a central 80% interval is +-Z80 sigma


def _naive_backtest(values: np.ndarray, horizon: int, origins: list[int]):
    return run_backtest(Candidate("naive", BASELINE), values, ["y"], origins, horizon, None)


def test_residuals_cover_every_row_from_the_calibration_origin_on() -> None:
    y = np.random.default_rng(0).normal(size=26).cumsum().reshape(-1, 1)
    backtest = _naive_backtest(y, 2, [20, 22])
    calibration = (10, Candidate("naive", BASELINE).fit(y[:10], ["y"], None))
    residuals = backtest.residuals(y, calibration)
    # By hand: the naive forecast from start s, h + 1 steps ahead, is y[s - 1].
    for h in range(2):
        expected = [y[s + h, 0] - y[s - 1, 0] for s in range(10, 26 - h)]
        np.testing.assert_allclose(residuals[h], expected)
    # Relative to the forecast (positive series): (actual - forecast) / forecast.
    shifted = _naive_backtest(y + 100, 2, [20, 22])
    relative = shifted.residuals(y + 100, calibration, relative=True)
    for h in range(2):
        expected = [(y[s + h, 0] - y[s - 1, 0]) / (y[s - 1, 0] + 100) for s in range(10, 26 - h)]
        np.testing.assert_allclose(relative[h], expected)
    # Without the calibration fit, only the rows from the first origin on.
    assert [len(r) for r in backtest.residuals(y)] == [6, 5]


def test_naive_intervals_on_random_walks_match_the_closed_form_and_cover_80_percent() -> None:
    horizon, rows = 8, 200
    widths, covered = [], []
    for seed in range(40):
        y = np.random.default_rng(seed).normal(size=rows + horizon).cumsum().reshape(-1, 1)
        train, future = y[:rows], y[rows:, 0]
        origins = rolling_origins(rows, horizon, 6)
        backtest = _naive_backtest(train, horizon, origins)
        calibration = (rows // 2, Candidate("naive", BASELINE).fit(train, ["y"], None))
        width = half_widths(backtest.residuals(train, calibration), 80, horizon)
        widths.append(width)
        forecast = np.full(horizon, train[-1, 0])
        covered.append(coverage(future, forecast - width, forecast + width))
    # The h-step naive error of a unit random walk is N(0, h): half-width Z80 * sqrt(h).
    closed_form = Z80 * np.sqrt(np.arange(1, horizon + 1))
    np.testing.assert_allclose(np.mean(widths, axis=0), closed_form, rtol=0.2)
    assert 0.7 <= float(np.mean(covered)) <= 0.9, np.mean(covered)
