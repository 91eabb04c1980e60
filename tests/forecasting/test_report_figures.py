"""The report's figures: date ticks on years or quarters, and gate titles that do not overlap."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from unrolled.explain import plots
from unrolled.forecasting.dates import DateIndex
from unrolled.forecasting.report_page import _date_ticks, _figure
from unrolled.models import topologies


def _tick_labels(dates: list[datetime.date], frequency: str) -> list[str]:
    figure, axes = _figure(9.0, 4.0)
    axes.plot(dates, np.arange(len(dates)))
    _date_ticks(axes, dates, frequency)
    figure.canvas.draw()
    low, high = axes.get_xlim()
    return [t.get_text() for t in axes.get_xticklabels() if low <= t.get_position()[0] <= high]


def test_short_monthly_spans_tick_on_quarters_and_long_ones_on_years() -> None:
    months = DateIndex.parse([f"2020-{m:02d}" for m in range(1, 13)] + ["2021-01"])
    assert _tick_labels(list(months.dates), "monthly") == [
        "2020-Q1", "2020-Q2", "2020-Q3", "2020-Q4", "2021-Q1"
    ]  # fmt: skip
    quarters = DateIndex.parse([f"{2000 + i // 4}-Q{i % 4 + 1}" for i in range(48)])
    assert _tick_labels(list(quarters.dates), "quarterly") == [
        "2000",
        "2002",
        "2004",
        "2006",
        "2008",
        "2010",
        "2012",
    ]  # fmt: skip  (2000-Q1 to 2011-Q4 and matplotlib's 5% margin: every second year)
    years = DateIndex.parse([str(1871 + i) for i in range(8)])
    assert _tick_labels(list(years.dates), "yearly") == [str(1871 + i) for i in range(8)]


def test_gate_figure_titles_do_not_overlap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kept: list[Any] = []
    save = plots._save
    monkeypatch.setattr(
        plots, "_save", lambda figure, path: kept.append(figure) or save(figure, path)
    )
    model = topologies.many_to_one(12, 1, outputs=1, units=8)
    plots.plot_gate_activations(model, np.zeros((12, 1), np.float32), tmp_path / "gates.png")
    figure = kept[0]
    renderer = figure.canvas.get_renderer()
    title = figure._suptitle.get_window_extent(renderer)
    texts = [a.title.get_window_extent(renderer) for a in figure.axes if a.get_title()]
    labels = [a.xaxis.label.get_window_extent(renderer) for a in figure.axes if a.get_xlabel()]
    assert len(texts) == 6
    boxes = [title, *texts, *labels]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b), (a, b)


@pytest.mark.parametrize(
    "labels",
    [
        [f"2020-01-{d:02d}" for d in range(1, 31)],  # daily
        [str(datetime.date(2020, 1, 6) + datetime.timedelta(weeks=w)) for w in range(30)],
        [f"{2018 + m // 12}-{m % 12 + 1:02d}" for m in range(30)],  # monthly, 2.5 years
        [f"{1990 + q // 4}Q{q % 4 + 1}" for q in range(30)],
        [str(1900 + y) for y in range(30)],
        None,  # no dates: row numbers
    ],
    ids=["daily", "weekly", "monthly", "quarterly", "yearly", "no-dates"],
)
def test_the_forecast_plot_draws_every_frequency_with_bands(
    tmp_path: Path, labels: list[str] | None
) -> None:
    from types import SimpleNamespace

    from unrolled.forecasting.report_page import _forecast_png
    from unrolled.forecasting.table import Table

    values = np.linspace(10, 40, 30).reshape(-1, 1)
    index = DateIndex.parse(labels) if labels else None
    future = np.linspace(41, 45, 5)
    band = (future - 2, future + 2)
    result = SimpleNamespace(
        table=Table(["sales"], values, labels, index),
        test_steps=6,
        backtest=values[-6:, 0] + 1,
        future=future,
        intervals={80.0: band, 95.0: (future - 4, future + 4)},
        backtest_intervals={80.0: (values[-6:, 0] - 1, values[-6:, 0] + 3)},
    )
    _forecast_png(result, tmp_path / "forecast.png")
    assert (tmp_path / "forecast.png").read_bytes()[:4] == b"\x89PNG"
