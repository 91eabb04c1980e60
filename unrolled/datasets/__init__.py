"""Small datasets shipped inside the package (no downloads at run time)."""

from __future__ import annotations

import csv
from importlib import resources
from typing import NamedTuple

import numpy as np


class Series(NamedTuple):
    """A univariate monthly series: `dates` as 'YYYY-MM' strings and float32 `values`."""

    dates: list[str]
    values: np.ndarray


def airline_passengers() -> Series:
    """International airline passengers, monthly totals in thousands, 1949-01 to 1960-12 (144 months).

    Box & Jenkins (1976), series G: the series of the LSTM forecasting tutorials.

    Example:
        >>> series = airline_passengers()
        >>> series.dates[0], float(series.values[0]), len(series.values)
        ('1949-01', 112.0, 144)
    """
    text = resources.files(__package__).joinpath("airline_passengers.csv").read_text()
    rows = list(csv.DictReader(text.splitlines()))
    return Series(
        [row["Month"] for row in rows],
        np.array([float(row["Passengers"]) for row in rows], dtype=np.float32),
    )
