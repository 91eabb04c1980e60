"""PNG plots: training curves, a forecast against the data, gate activations over time.

matplotlib is imported inside each function and draws on its Agg canvas without pyplot:
no window opens, the global backend is left alone, and nothing stays open afterwards.
Every function writes the file atomically and returns its path.

Example:
    >>> plot_history({"loss": [1.0, 0.5, 0.3], "val_loss": [1.1, 0.7, 0.6]}, "history.png")
    PosixPath('history.png')
"""

from __future__ import annotations

import datetime
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from unrolled.errors import ConfigError, ShapeError
from unrolled.explain.drawing import figure_bytes, new_figure
from unrolled.explain.gates import GATE_TITLES, gate_activations
from unrolled.explain.walk import find_recurrent

_DPI = 120
_GATES = {"i", "f", "o", "z", "r"}  # values in (0, 1)


def plot_history(history: Any, path: str | os.PathLike[str]) -> Path:
    """Training curves: one panel per metric, its `val_` twin in the same panel.

    Args:
        history: what `fit` returns (a `History`, whose `.history` is read) or a dict such
            as `{"loss": [...], "val_loss": [...]}`.
        path: the `.png` file to write.

    Raises:
        ConfigError: a history with no values.
    """
    logs = _history_dict(history)
    names = [k for k in logs if not k.startswith("val_")]
    names += [k[4:] for k in logs if k.startswith("val_") and k[4:] not in logs]
    if not names:
        raise ConfigError("plot_history needs at least one recorded value, e.g. {'loss': [...]}.")
    figure, grid = _figure(len(names), 1, 6.4, 2.6 * len(names))
    for axes, name in zip(grid, names):
        for key, style in ((name, "-"), (f"val_{name}", "--")):
            if key in logs:
                values = np.asarray(logs[key], dtype=np.float64)
                epochs = np.arange(1, len(values) + 1)
                axes.plot(epochs, values, style, marker="o", markersize=3, label=key)
        axes.set_ylabel(name)
        axes.grid(alpha=0.3)
        axes.legend(loc="best")
    from matplotlib.ticker import MaxNLocator

    for axes in grid:
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    grid[-1].set_xlabel("epoch")
    grid[0].set_title("Training history")
    return _save(figure, path)


def plot_forecast(
    path: str | os.PathLike[str],
    actual: Any,
    predicted: Any = None,
    split_index: int | None = None,
    dates: Sequence[Any] | None = None,
    forecast: Any = None,
    title: str | None = None,
) -> Path:
    """The series, the model's predictions over it, and a forecast past its end.

    Args:
        path: the `.png` file to write.
        actual: the observed series `(timesteps,)` (or `(timesteps, 1)`).
        predicted: predictions for the observed steps, aligned with the end of `actual` when
            shorter (the first steps have no prediction: the look-back window); NaN for gaps.
        split_index: the first test step: a vertical line marks the train/test boundary.
        dates: one label per observed step (datetimes, or strings shown as tick labels);
            regular datetimes continue past the end for the forecast.
        forecast: values after the last observed step, drawn on from it.
        title: the plot's title.

    Raises:
        ShapeError: more predictions than observed steps, or dates of another length.
    """
    y = _series(actual, "actual")
    steps = len(y)
    p = None if predicted is None else _series(predicted, "predicted")
    if p is not None and len(p) > steps:
        raise ShapeError(
            f"predicted has {len(p)} steps but actual only {steps}; predictions cover observed steps."
        )
    f = None if forecast is None else _series(forecast, "forecast")
    if dates is not None and len(dates) != steps:
        raise ShapeError(f"dates has {len(dates)} entries; actual has {steps} steps.")
    x, x_future, labels = _axis(dates, steps, 0 if f is None else len(f))
    figure, grid = _figure(1, 1, 9.0, 4.0)
    axes = grid[0]
    axes.plot(x, y, color="#444444", linewidth=1.4, label="actual")
    if p is not None:
        aligned = np.full(steps, np.nan)
        aligned[steps - len(p) :] = p
        axes.plot(x, aligned, color="#1f77b4", linewidth=1.2, label="predicted")
    if f is not None:
        joined_x = [x[-1], *x_future]
        axes.plot(
            joined_x, [y[-1], *f], color="#d62728", linewidth=1.4, linestyle="--", label="forecast"
        )
    if split_index is not None:
        if not 0 <= int(split_index) <= steps:
            raise ShapeError(f"split_index={split_index} is outside the {steps} observed steps.")
        boundary = x[min(int(split_index), steps - 1)]
        axes.axvline(boundary, color="#888888", linestyle=":", linewidth=1.2, label="train | test")
    if labels is not None:
        ticks = np.unique(np.linspace(0, steps - 1, min(steps, 8)).round().astype(int))
        axes.set_xticks(ticks, [str(labels[i]) for i in ticks], rotation=30, ha="right")
    axes.set_xlabel("time" if dates is not None else "timestep")
    axes.grid(alpha=0.3)
    axes.legend(loc="best")
    axes.set_title(title or "Forecast against actual")
    return _save(figure, path)


def plot_gate_activations(
    model: Any, x_one_sample: Any, path: str | os.PathLike[str], layer: Any = None
) -> Path:
    """Heatmaps of a recurrent layer's gates over one sample: units down, timesteps across.

    Args:
        model, x_one_sample, layer: as `gate_activations` (the first recurrent layer by default).
        path: the `.png` file to write.
    """
    name, _ = find_recurrent(model, layer)
    values = gate_activations(model, x_one_sample, layer)
    keys = list(values)
    columns = min(3, len(keys))
    rows = math.ceil(len(keys) / columns)
    units, steps = values["h"].shape[1], values["h"].shape[0]
    height = max(2.2, min(6.0, 0.18 * units + 1.2))
    # Spacing by hand: constrained layout costs seconds with a colorbar per panel.
    # Inches: 1.0 above the panels (the figure title, then each panel's title), 0.8 between
    # rows (x labels, then the next row's titles), 0.6 below; none of the texts overlap.
    top, gap, bottom = 1.0, 0.8, 0.6
    total = height * rows + gap * (rows - 1) + top + bottom
    figure, grid = _figure(rows, columns, 4.4 * columns, total, layout=None)
    figure.subplots_adjust(
        left=0.06,
        right=0.96,
        bottom=bottom / total,
        top=1 - top / total,
        wspace=0.4,
        hspace=gap / height,
    )
    for axes, key in zip(grid, keys):
        data = values[key].T  # (units, timesteps)
        extent = (0.5, steps + 0.5, -0.5, units - 0.5)  # timesteps counted from 1, as x_1 ... x_T
        if key in _GATES:
            colors = {"cmap": "viridis", "vmin": 0.0, "vmax": 1.0}
        else:
            bound = float(np.nanmax(np.abs(data))) if np.isfinite(data).any() else 1.0
            colors = {"cmap": "RdBu_r", "vmin": -(bound or 1.0), "vmax": bound or 1.0}
        image = axes.imshow(data, aspect="auto", origin="lower", extent=extent, **colors)
        axes.set_title(GATE_TITLES.get(key, key), fontsize=10)
        axes.set_xlabel("timestep")
        axes.set_ylabel("unit")
        figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    for axes in grid[len(keys) :]:
        axes.set_axis_off()
    figure.suptitle(
        f"{name}: gate activations of one sample ({steps} timesteps, {units} units)",
        y=1 - 0.3 / total,
        va="top",
    )
    return _save(figure, path)


# -- shared pieces ----------------------------------------------------------------------------
def _figure(
    rows: int, columns: int, width: float, height: float, layout: str | None = "constrained"
) -> tuple[Any, list[Any]]:
    figure = new_figure(width, height, _DPI, layout)
    grid = figure.subplots(rows, columns, squeeze=False)
    return figure, list(grid.ravel())


def _save(figure: Any, path: str | os.PathLike[str]) -> Path:
    from unrolled.files import write_bytes

    target = Path(path)
    if target.suffix.lower() != ".png":
        raise ConfigError(f"Plots are written as .png files; received {str(target)!r}.")
    write_bytes(target, figure_bytes(figure, _DPI))
    return target


def _history_dict(history: Any) -> Mapping[str, Sequence[float]]:
    logs = getattr(history, "history", history)
    if not isinstance(logs, Mapping):
        raise ConfigError(
            "plot_history expects what fit returns (a History) or a dict of lists, e.g. "
            f"{{'loss': [...], 'val_loss': [...]}}; received {type(history).__name__}."
        )
    return {str(k): list(v) for k, v in logs.items() if len(v)}


def _series(values: Any, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 2 and 1 in array.shape:
        array = array.reshape(-1)
    if array.ndim != 1:
        raise ShapeError(
            f"{name} must be one series (timesteps,) or (timesteps, 1); received shape {array.shape}."
        )
    return array


def _axis(dates: Any, steps: int, future: int) -> tuple[list[Any], list[Any], Any]:
    """x positions of the observed steps and the forecast, and tick labels if any."""
    positions = list(range(steps))
    ahead = list(range(steps, steps + future))
    if dates is None:
        return positions, ahead, None
    values = list(dates)
    if all(isinstance(d, (datetime.date, np.datetime64)) for d in values):
        times = np.asarray(values, dtype="datetime64[ns]")
        step = times[-1] - times[-2] if len(times) > 1 else np.timedelta64(1, "D")
        later = [times[-1] + step * (k + 1) for k in range(future)]
        return list(times), later, None
    return positions, ahead, values
