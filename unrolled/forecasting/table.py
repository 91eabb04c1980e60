"""`read_table`: the numeric columns of a CSV file, checked, with the dates kept as text."""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from unrolled.errors import ConfigError, ShapeError


class DataError(ConfigError):
    """A data file cannot be used as it is (missing, a missing column, a bad value)."""


@dataclass(frozen=True)
class Table:
    """Columns of a series: `values (timesteps, len(columns))` float32, the target first."""

    columns: list[str]
    values: np.ndarray
    dates: list[str] | None = None

    @property
    def target(self) -> str:
        return self.columns[0]


def read_table(
    path: str | os.PathLike[str],
    target: str,
    features: Sequence[str] = (),
    date: str | None = None,
) -> Table:
    """Reads `target` (and `features`) from a CSV file with a header row.

    Raises:
        DataError: the file is missing or unreadable, a column is missing, or a value is not a
            number or is NaN (the row and column are named).
    """
    if not os.path.isfile(path):
        raise DataError(f"{os.fspath(path)}: no such file.")
    try:
        with open(path, newline="", encoding="utf-8-sig") as file:
            rows = list(csv.reader(file))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DataError(f"{os.fspath(path)}: cannot read it as CSV ({error}).") from None
    if not rows:
        raise DataError(f"{os.fspath(path)} is empty; expected a header row and data rows.")
    header = [name.strip() for name in rows[0]]
    columns = [target, *[f for f in features if f != target]]
    for name in [*columns, *([date] if date else [])]:
        if name not in header:
            raise DataError(
                f"{os.fspath(path)} has no column {name!r}; its columns are: {', '.join(header)}."
            )
    data = [row for row in rows[1:] if any(cell.strip() for cell in row)]
    if not data:
        raise DataError(f"{os.fspath(path)} has a header row but no data rows.")
    values = np.empty((len(data), len(columns)), dtype=np.float32)
    for r, row in enumerate(data):
        for c, name in enumerate(columns):
            values[r, c] = _number(row, header.index(name), name, r + 2, path)
    dates = [row[header.index(date)].strip() for row in data] if date else None
    return Table(columns, values, dates)


def _number(
    row: list[str], index: int, column: str, line: int, path: str | os.PathLike[str]
) -> float:
    text = row[index].strip() if index < len(row) else ""
    where = f"{os.fspath(path)}, line {line}, column {column!r}"
    try:
        value = float(text)
    except ValueError:
        hint = "an empty cell" if not text else f"{text!r}"
        raise DataError(f"{where}: expected a number, found {hint}.") from None
    if not math.isfinite(value):
        raise DataError(f"{where}: {text} (NaN or infinite); fill or drop that row first.")
    return value


def check_length(table: Table, needed: int, why: str) -> None:
    """Raises `ShapeError` when the table has fewer than `needed` rows."""
    if len(table.values) < needed:
        raise ShapeError(f"The data has {len(table.values)} rows; {why} needs at least {needed}.")
