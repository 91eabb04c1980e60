"""The kept forecast is the one every output uses: selection's margin rule, the combination,
and forecast.csv, metrics.json and `unrolled forecast` agreeing on who made the forecast."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from unrolled.forecasting.decision import MARGIN, decide
from unrolled.forecasting.forecaster import ForecastSettings
from unrolled.forecasting.job import SearchSettings, run_job
from unrolled.forecasting.report import write_report
from unrolled.forecasting.selection import (
    BASELINE,
    RECURRENT,
    Backtest,
    Candidate,
    combine,
)
from unrolled.forecasting.table import Table

pytest.importorskip("statsmodels")


def _backtest(name: str, kind: str, errors_per_origin: list[float]) -> Backtest:
    # Forecasts off by a constant per origin: each origin's RMSE is that constant.
    actuals = np.zeros((len(errors_per_origin), 2))
    predictions = np.asarray(errors_per_origin)[:, None] + actuals
    settings = ForecastSettings(look_back=2, horizon=1) if kind == RECURRENT else None
    return Backtest(Candidate(name, kind, settings), [10, 11, 12][: len(actuals)], predictions,
                    actuals, [None] * len(actuals), 0.0)  # fmt: skip


def test_a_recurrent_forecast_must_beat_the_best_baseline_clearly() -> None:
    naive = _backtest("naive", BASELINE, [1.0, 1.0, 1.0])
    # 3% better overall: inside the margin, the baseline stays.
    close = _backtest("LSTM", RECURRENT, [0.97, 0.97, 0.97])
    assert decide([naive, close], "auto") is naive
    # Much better overall, but from one origin only: the baseline stays.
    lucky = _backtest("LSTM", RECURRENT, [0.1, 1.05, 1.05])
    assert lucky.errors["rmse"] < (1 - MARGIN) * naive.errors["rmse"]
    assert decide([naive, lucky], "auto") is naive
    # Better by the margin and from most origins: kept.
    clear = _backtest("LSTM", RECURRENT, [0.5, 0.8, 1.1])
    assert decide([naive, clear], "auto") is clear
    # --model lstm: the recurrent one, whatever the baselines did.
    assert decide([naive, close], "lstm") is close


def test_the_combination_is_the_mean_of_its_parts_at_every_origin() -> None:
    lstm = _backtest("LSTM a", RECURRENT, [2.0, 0.0, -1.0])
    naive = _backtest("naive", BASELINE, [0.0, 2.0, 3.0])
    both = combine([lstm, naive])
    assert both.candidate.name == "mean of LSTM and naive"
    np.testing.assert_allclose(both.predictions[:, 0], [1.0, 1.0, 1.0])
    assert both.errors["rmse"] == pytest.approx(1.0)


def _random_walk_folder(tmp_path: Path) -> tuple[Path, np.ndarray]:
    y = 50 + np.random.default_rng(0).normal(size=120).cumsum()
    table = Table(["y"], y.reshape(-1, 1).astype(np.float32))
    settings = ForecastSettings(look_back=8, horizon=6, units=[4], epochs=3)
    search = SearchSettings(budget=60, seeds=1, grid=False, origins=4, intervals=(80.0,))
    result = run_job(table, settings, 6, 6, None, refit=True, search=search)
    assert result.winner_is_baseline and result.chosen == "naive"
    out = tmp_path / "report"
    write_report(result, out)
    return out, y


def test_a_baseline_winner_forecasts_from_the_folder_as_in_forecast_csv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from unrolled.cli.main import main

    out, y = _random_walk_folder(tmp_path)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["forecast_csv_from"] == "naive" and metrics["chosen_kind"] == "baseline"
    assert "forecast.csv holds the forecast of naive" in metrics["produced_by"]
    with open(out / "forecast.csv") as file:
        reported = [float(row["y"]) for row in csv.DictReader(file)]
    np.testing.assert_allclose(reported, np.full(6, y[-1]), rtol=1e-5)  # naive, by hand

    capsys.readouterr()
    assert main(["forecast", str(out), "--steps", "6"]) == 0
    printed = capsys.readouterr()
    values = [float(line.split(",")[2]) for line in printed.out.splitlines()[1:]]
    np.testing.assert_allclose(values, reported, rtol=1e-5)  # never the saved LSTM's
    assert "forecasting with naive" in printed.err
    # From other data the winner repeats that data's last value.
    data = tmp_path / "more.csv"
    data.write_text("y\n" + "\n".join(f"{v:.4f}" for v in [*y, 7.0]) + "\n")
    assert main(["forecast", str(out), "--steps", "2", "--data", str(data), "--quiet"]) == 0
    printed = capsys.readouterr()
    assert printed.err == ""
    assert [float(line.split(",")[2]) for line in printed.out.splitlines()[1:]] == [7.0, 7.0]


def test_exponential_smoothing_forecasts_the_same_after_its_state_is_saved() -> None:
    from unrolled.forecasting.baselines import ExponentialSmoothing

    t = np.arange(60)
    y = 100 + t + 10 * np.sin(2 * np.pi * t / 12) + np.random.default_rng(1).normal(0, 1, 60)
    fitted = ExponentialSmoothing(12).fit(y[:48])
    state = json.loads(json.dumps(fitted.get_state()))  # through JSON, as in the fit record
    restored = ExponentialSmoothing.from_state(state)
    np.testing.assert_allclose(restored.forecast(y, 6), fitted.forecast(y, 6), rtol=1e-10)
