"""Plots are real PNG pictures; matplotlib is imported only inside the functions that draw."""

from __future__ import annotations

import ast
import datetime
from pathlib import Path

import numpy as np
import pytest

import unrolled as U
from unrolled import topologies
from unrolled.callbacks import History
from unrolled.explain import plot_forecast, plot_gate_activations, plot_history

EXPLAIN = Path(U.__file__).parent / "explain"


def _assert_picture(path: Path) -> None:
    import matplotlib.image

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = matplotlib.image.imread(path)
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert float(np.std(pixels)) > 0


def test_matplotlib_is_imported_lazily():
    for path in sorted(EXPLAIN.glob("*.py")):
        for node in ast.parse(path.read_text()).body:  # module level only
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not any(n.split(".")[0] == "matplotlib" for n in names), path.name


def test_history_curves(tmp_path):
    history = History()
    history.history = {
        "loss": [1.0, 0.6, 0.4, 0.35],
        "val_loss": [1.1, 0.8, 0.7, 0.72],
        "mae": [0.9, 0.7, 0.6, 0.5],
    }
    _assert_picture(plot_history(history, tmp_path / "history.png"))
    _assert_picture(plot_history({"loss": [3.0, 2.0]}, tmp_path / "dict.png"))
    with pytest.raises(U.ConfigError, match="at least one"):
        plot_history({}, tmp_path / "empty.png")
    with pytest.raises(U.ConfigError, match=r"\.png"):
        plot_history({"loss": [1.0]}, tmp_path / "history.svg")


def test_forecast_against_actual_with_boundary_and_future(tmp_path):
    series = np.sin(np.arange(120) / 6.0) + np.arange(120) / 60
    predicted = series[12:] + 0.05  # no prediction for the first look-back window
    future = np.sin(np.arange(120, 144) / 6.0) + np.arange(120, 144) / 60
    path = plot_forecast(tmp_path / "plain.png", series, predicted, split_index=96, forecast=future)
    _assert_picture(path)
    months = [f"{1949 + i // 12}-{i % 12 + 1:02d}" for i in range(120)]
    _assert_picture(plot_forecast(tmp_path / "months.png", series, predicted, 96, months, future))
    days = [datetime.date(2020, 1, 1) + datetime.timedelta(days=i) for i in range(120)]
    _assert_picture(plot_forecast(tmp_path / "days.png", series[:, None], None, 96, days, future))
    with pytest.raises(U.ShapeError, match="dates has 3 entries"):
        plot_forecast(tmp_path / "bad.png", series, dates=["a", "b", "c"])
    with pytest.raises(U.ShapeError, match="predicted has 121 steps"):
        plot_forecast(tmp_path / "bad.png", series, np.zeros(121))


def test_gate_activation_heatmaps(tmp_path):
    model = topologies.many_to_one(timesteps=20, features=1, units=8)
    x = np.sin(np.arange(20) / 3.0)[:, None].astype(np.float32)
    _assert_picture(plot_gate_activations(model, x, tmp_path / "gates.png"))
    gru = topologies.many_to_many(timesteps=20, features=1, units=4, cell="gru")
    _assert_picture(plot_gate_activations(gru, x, tmp_path / "gru.png", layer=0))
