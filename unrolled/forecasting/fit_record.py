"""`fit_record.json` beside a saved forecaster: what it was fitted on, for `forecast` and `evaluate`.

It holds the season, the fitted target values and the last dates with their spelling, so
that `unrolled forecast` prints dates after the training data and `unrolled evaluate` can
tell when the rows it scores were part of the fit; and the forecaster that won the job's
selection (`winner`), so that both forecast with what wrote forecast.csv, baseline or not.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from unrolled.forecasting.dates import DateError, DateIndex
from unrolled.forecasting.winner import winner_document

FIT_RECORD = "fit_record.json"
_DATES_KEPT = 24


@dataclass(frozen=True)
class FitRecord:
    """What a saved forecaster was fitted on."""

    season: int | None
    target: list[float]  # the fitted rows of the target column
    dates: list[str] | None  # the last fitted dates
    date_format: str | None  # the strptime format they were parsed with, if any
    winner: dict[str, Any] | None = None  # `winner.winner_document`; None: the saved model

    def index(self) -> DateIndex | None:
        """The last fitted dates, parsed, with their frequency; None without dates."""
        if not self.dates or len(self.dates) < 2:
            return None
        try:
            return DateIndex.parse(self.dates, self.date_format)
        except DateError:
            return None


def fitted_rows(values: np.ndarray, tail: np.ndarray | None) -> int:
    """How many leading rows of `values` the forecaster was fitted on (its `tail` ends there)."""
    if tail is None or len(tail) == 0:
        return len(values)
    return end_of(values, np.asarray(tail, dtype=np.float64)) or len(values)


def end_of(series: np.ndarray, tail: np.ndarray) -> int:
    """The row after the last place `series` holds `tail`, or 0 where it never does."""
    for end in range(len(series), len(tail) - 1, -1):
        if np.array_equal(series[end - len(tail) : end], tail):
            return end
    return 0


def write_fit_record(result: Any, folder: str | os.PathLike[str]) -> Path:
    """Writes the record of `result`'s saved forecaster into its model folder."""
    table = result.table
    values = table.values.astype(np.float64)
    rows = fitted_rows(values, getattr(result.forecaster, "tail", None))
    index = getattr(table, "index", None)
    style = getattr(index, "style", "")
    record = {
        "season": result.season,
        "target": values[:rows, 0].tolist(),
        "dates": list(table.dates[:rows][-_DATES_KEPT:]) if table.dates else None,
        "date_format": style if "%" in style else None,
    }
    if getattr(result, "winner_candidate", None) is not None:
        record["winner"] = winner_document(
            result.winner_candidate, result.winner, result.season, values
        )
    path = Path(folder) / FIT_RECORD
    path.write_text(json.dumps(record))
    return path


def read_fit_record(folder: str | os.PathLike[str]) -> FitRecord | None:
    """The record in a model folder, or None (older folders have none)."""
    path = Path(folder) / FIT_RECORD
    try:
        state = json.loads(path.read_text())
        return FitRecord(
            season=state.get("season"),
            target=[float(v) for v in state["target"]],
            dates=state.get("dates"),
            date_format=state.get("date_format"),
            winner=state.get("winner"),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
