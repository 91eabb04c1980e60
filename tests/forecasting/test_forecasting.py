"""The forecaster's pieces against hand computations: transforms, baselines, dates, folders."""

from __future__ import annotations

import numpy as np
import pytest

from unrolled.errors import ConfigError, ShapeError
from unrolled.forecasting.baselines import errors, naive, seasonal_naive
from unrolled.forecasting.forecaster import Forecaster
from unrolled.forecasting.job import future_dates
from unrolled.forecasting.transforms import SeriesTransform


def test_transform_then_inverse_gives_back_the_series() -> None:
    rng = np.random.default_rng(0)
    levels = np.stack(
        [np.exp(rng.normal(size=50).cumsum() * 0.1) * 100, rng.normal(size=50)], axis=1
    )
    transform = SeriesTransform("auto").fit(levels)
    assert transform.kinds == ["log-diff", "diff"]  # positive column, column with negatives
    changes = transform.forward(levels)  # (49, 2)
    expected_first = np.diff(np.log(levels[:, 0]))
    np.testing.assert_allclose(
        changes[:, 0], (expected_first - expected_first.mean()) / expected_first.std(), atol=1e-5
    )
    rebuilt = transform.inverse(changes[10:], levels[10])
    np.testing.assert_allclose(rebuilt, levels[11:], rtol=1e-5)
    restored = SeriesTransform.from_state(transform.get_state())
    np.testing.assert_allclose(restored.forward(levels), changes)


def test_log_diff_refuses_non_positive_values() -> None:
    with pytest.raises(ConfigError, match="positive"):
        SeriesTransform("log-diff").fit(np.array([[1.0], [0.0], [2.0]]))
    with pytest.raises(ConfigError, match="transform"):
        SeriesTransform("boxcox")


def test_baselines_and_errors_by_hand() -> None:
    history = np.array([1.0, 2, 3, 4, 5, 6])
    np.testing.assert_array_equal(naive(history, 3), [6, 6, 6])
    np.testing.assert_array_equal(seasonal_naive(history, 5, season=4), [3, 4, 5, 6, 3])
    e = errors(np.array([2.0, 4.0]), np.array([3.0, 2.0]))
    assert e == pytest.approx({"rmse": np.sqrt(2.5), "mae": 1.5, "mape": 50.0})


def test_future_dates_continue_monthly_and_daily_dates() -> None:
    assert future_dates(["1960-11", "1960-12"], 3) == ["1961-01", "1961-02", "1961-03"]
    assert future_dates(["2020-02-27", "2020-02-28"], 2) == ["2020-02-29", "2020-03-01"]
    assert future_dates(["a", "b"], 2) is None and future_dates(None, 2) is None


def test_forecaster_folder_round_trip_and_bad_input(tmp_path) -> None:
    series = 100 + np.sin(np.arange(60) / 3) * 10 + np.arange(60)
    forecaster = Forecaster(look_back=8, horizon=2, epochs=2, units=4)
    with pytest.raises(ConfigError, match="not fitted"):
        forecaster.forecast(3)
    with pytest.raises(ShapeError, match="at least 11"):
        forecaster.fit(series[:10])
    forecaster.fit(series)
    forecaster.save(tmp_path / "model")
    loaded = Forecaster.load(tmp_path / "model")
    np.testing.assert_allclose(loaded.forecast(5), forecaster.forecast(5), rtol=1e-6)
    with pytest.raises(ShapeError, match="look_back=8"):
        loaded.forecast(3, series[:5])
    with pytest.raises(ConfigError, match="not a forecaster folder"):
        Forecaster.load(tmp_path)
    with pytest.raises(ValueError, match="topology"):
        Forecaster(topology="transformer")
