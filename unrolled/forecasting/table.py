"""`read_table`: the numeric columns of a CSV file, checked, with the dates parsed.

Real files come with `;` or tab delimiters, decimal commas, quoted "1,234.5" numbers, other
encodings, gzip, gaps and unsorted rows. `CsvOptions` declares how each is handled (every
field defaults to sniffing or to refusing with the line number); the standard `csv` module
splits the rows.

    >>> table = read_table("sales.csv", "sales", date="month")  # doctest: +SKIP
    >>> table.index.frequency.name, table.future_dates(2)  # doctest: +SKIP
    ('monthly', ['2021-01', '2021-02'])
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from unrolled.errors import ConfigError, ShapeError
from unrolled.forecasting.dates import DateError, DateIndex, continue_labels, parse_dates

MISSING = ("drop", "interpolate", "error")
DELIMITERS = (",", ";", "\t", "|")
# Cells read as missing values (compared lower-cased, stripped).
MISSING_CELLS = frozenset({"", "na", "n/a", "nan", "null", "none", "#n/a", "-", "?"})
_THOUSANDS = {".": ",", ",": "."}


class DataError(ConfigError):
    """A data file cannot be used as it is (missing, a missing column, a bad value)."""


@dataclass(frozen=True)
class CsvOptions:
    """How `read_table` reads a file (the CLI's --sep, --decimal, ... options).

    Args:
        sep: the delimiter; None sniffs `,` `;` tab or `|` from the header and first rows.
        decimal: "." or ","; None decides from the numbers (a `;`- or tab-separated file whose
            numbers give no sign uses ",").
        encoding: the text encoding (utf-8 by default; a byte-order mark is skipped).
        missing: "error" names the line of the first missing value; "drop" drops its row;
            "interpolate" fills it linearly from its neighbours.
        sort: sort the rows by date instead of refusing unsorted dates.
        date_format: a `strptime` format for the date column, e.g. "%d/%m/%Y".
    """

    sep: str | None = None
    decimal: str | None = None
    encoding: str = "utf-8"
    missing: str = "error"
    sort: bool = False
    date_format: str | None = None

    def __post_init__(self) -> None:
        if self.sep is not None and len(_unescape(self.sep)) != 1:
            raise ConfigError(
                f"--sep must be one character, e.g. ';' or '\\t'; received {self.sep!r}."
            )
        if self.decimal not in (None, ".", ","):
            raise ConfigError(f"--decimal must be '.' or ','; received {self.decimal!r}.")
        if self.missing not in MISSING:
            raise ConfigError(
                f"--missing must be one of {', '.join(MISSING)}; received {self.missing!r}."
            )


@dataclass(frozen=True)
class Table:
    """Columns of a series: `values (timesteps, len(columns))` float32, the target first."""

    columns: list[str]
    values: np.ndarray
    dates: list[str] | None = None
    index: DateIndex | None = field(default=None, compare=False)

    @property
    def target(self) -> str:
        return self.columns[0]

    @property
    def frequency(self) -> str | None:
        """The detected date frequency ("monthly", "quarterly", ...), or None."""
        return self.index.frequency.name if self.index and self.index.frequency else None

    def future_dates(self, steps: int) -> list[str] | None:
        """The `steps` dates after the last row, spelled as the file spells them, or None."""
        if self.index is not None and self.index.frequency is not None:
            return self.index.future(steps)
        return continue_labels(self.dates, steps)


def read_table(
    path: str | os.PathLike[str],
    target: str,
    features: Sequence[str] = (),
    date: str | None = None,
    options: CsvOptions | None = None,
) -> Table:
    """Reads `target` (and `features`) from a CSV file (or .gz) with a header row.

    Raises:
        DataError: the file is missing or unreadable, a column is missing, a value is not a
            number or is missing (with --missing error), or the dates are unsorted, duplicated,
            unevenly spaced or ambiguous; the message names the line, column and value.
    """
    options = options or CsvOptions()
    name = os.fspath(path)
    rows, lines, sep = _rows(path, target, options)
    if not rows:
        raise DataError(f"{name} is empty; expected a header row and data rows.")
    header = [cell.strip() for cell in rows[0]]
    columns = [target, *[f for f in features if f != target]]
    for column in [*columns, *([date] if date else [])]:
        if column not in header:
            raise DataError(
                f"{name} has no column {column!r}; its columns are: {', '.join(header)}."
            )
    data = [(row, line) for row, line in zip(rows[1:], lines[1:]) if any(c.strip() for c in row)]
    if not data:
        raise DataError(f"{name} has a header row but no data rows.")
    indices = [header.index(c) for c in columns]
    cells = [[_cell(row, i) for i in indices] for row, _ in data]
    line_of = [line for _, line in data]
    decimal = options.decimal or _sniff_decimal(cells, sep)
    values = np.empty((len(data), len(columns)), dtype=np.float64)
    for r, row in enumerate(cells):
        for c, text in enumerate(row):
            values[r, c] = _number(
                text, decimal, f"{name}, line {line_of[r]}, column {columns[c]!r}", options
            )
    index = None
    if date:
        texts = [_cell(row, header.index(date)) for row, _ in data]
        order = _date_order(texts, line_of, name, date, options)
        values, texts, line_of = (
            values[order],
            [texts[i] for i in order],
            [line_of[i] for i in order],
        )
        index = _index(texts, line_of, name, date, options)
    values, keep = _fill(values, line_of, columns, name, options.missing)
    if index is not None and not keep.all():
        kept = [i for i in range(len(keep)) if keep[i]]
        index = replace(
            index,
            labels=tuple(index.labels[i] for i in kept),
            dates=tuple(index.dates[i] for i in kept),
        )
    if len(values) == 0:
        raise DataError(f"{name}: no rows left after dropping the rows with missing values.")
    dates = list(index.labels) if index is not None else None
    return Table(columns, values.astype(np.float32), dates, index)


def check_length(table: Table, needed: int, why: str) -> None:
    """Raises `ShapeError` when the table has fewer than `needed` rows."""
    if len(table.values) < needed:
        raise ShapeError(f"The data has {len(table.values)} rows; {why} needs at least {needed}.")


# -- reading the text --------------------------------------------------------------------------
def _rows(
    path: str | os.PathLike[str], target: str, options: CsvOptions
) -> tuple[list[list[str]], list[int], str]:
    name = os.fspath(path)
    if not os.path.isfile(path):
        raise DataError(f"{name}: no such file.")
    encoding = options.encoding
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        encoding = "utf-8-sig"  # skips a byte-order mark
    try:
        with open(path, "rb") as file:
            raw = file.read()
        if raw[:2] == b"\x1f\x8b":  # gzip, whatever the file is called
            raw = gzip.decompress(raw)
        text = raw.decode(encoding)
    except LookupError:
        raise DataError(
            f"--encoding {options.encoding!r} is not an encoding Python knows."
        ) from None
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise DataError(
            f"{name}, line {line}: byte {raw[error.start]:#04x} is not {options.encoding}; "
            "pass --encoding, e.g. --encoding latin-1 or --encoding cp1252."
        ) from None
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise DataError(f"{name}: cannot read it ({error}).") from None
    sep = _unescape(options.sep) if options.sep else _sniff_sep(text, target)
    rows, lines = [], []
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
        for row in reader:
            rows.append(row)
            lines.append(reader.line_num)
    except csv.Error as error:
        raise DataError(
            f"{name}, line {reader.line_num}: cannot read it as CSV ({error})."
        ) from None
    return rows, lines, sep


def _unescape(sep: str) -> str:
    return {"\\t": "\t", "tab": "\t", "TAB": "\t"}.get(sep, sep)


def _sniff_sep(text: str, target: str) -> str:
    # The delimiter that splits the header and the first rows into the same number of
    # fields, preferring one whose header names the target, then the most fields.
    sample = text.splitlines()[:50]
    best, best_key = ",", (False, False, 0)
    for sep in DELIMITERS:
        try:
            rows = [r for r in csv.reader(sample, delimiter=sep) if r]
        except csv.Error:
            continue
        if not rows:
            continue
        widths = {len(r) for r in rows}
        key = (target in [c.strip() for c in rows[0]], len(widths) == 1, len(rows[0]))
        if len(rows[0]) > 1 and key > best_key:
            best, best_key = sep, key
    return best


def _cell(row: list[str], index: int) -> str:
    return row[index].strip() if index < len(row) else ""


# -- numbers -------------------------------------------------------------------------------------
def _sniff_decimal(cells: list[list[str]], sep: str) -> str:
    # Evidence from the numbers themselves: the later of "." and "," in "1,234.5" / "1.234,5"
    # is the decimal mark; a comma not followed by exactly three digits is one too.
    texts = [t for row in cells for t in row if t and t.lower() not in MISSING_CELLS]
    for text in texts:
        if "." in text and "," in text:
            return "." if text.rfind(".") > text.rfind(",") else ","
    for text in texts:
        if re.search(r",\d{0,2}$|,\d{4,}$|^[-+]?0,", text) or text.count(".") > 1:
            return ","
        if re.search(r"\.\d{0,2}$|\.\d{4,}$|^[-+]?0\.", text) or text.count(",") > 1:
            return "."
    # Only "1,234"-like commas or none: thousands in a comma-separated file (the commas were
    # quoted), a decimal comma in a ;- or tab-separated one, as spreadsheets write them.
    return "," if any("," in t for t in texts) and sep in (";", "\t") else "."


def _number(text: str, decimal: str, where: str, options: CsvOptions) -> float:
    if text.lower() in MISSING_CELLS:
        if options.missing == "error":
            found = "an empty cell" if not text else text
            raise DataError(
                f"{where}: expected a number, found {found} (a missing value); "
                "pass --missing drop or --missing interpolate."
            )
        return math.nan
    plain = text.replace(" ", "").replace("\u00a0", "").replace("\u202f", "").replace("'", "")
    thousands = _THOUSANDS[decimal]
    if thousands in plain:
        if not re.fullmatch(rf"[-+]?\d{{1,3}}(\{thousands}\d{{3}})+(\{decimal}\d*)?", plain):
            raise DataError(
                f"{where}: expected a number with {decimal!r} as the decimal mark, found {text!r}; "
                f"pass --decimal {thousands} if {thousands!r} is the decimal mark."
            )
        plain = plain.replace(thousands, "")
    if decimal == ",":
        plain = plain.replace(",", ".")
    try:
        value = float(plain)
    except ValueError:
        raise DataError(f"{where}: expected a number, found {text!r}.") from None
    if not math.isfinite(value):
        raise DataError(f"{where}: {text} (NaN or infinite); fill or drop that row first.")
    return value


def _fill(
    values: np.ndarray, lines: list[int], columns: list[str], name: str, missing: str
) -> tuple[np.ndarray, np.ndarray]:
    """The values with missing cells dropped or interpolated, and which rows were kept."""
    gaps = np.isnan(values)
    keep = ~gaps.any(axis=1)
    if missing == "drop" or keep.all():
        return values[keep], keep
    for c in range(values.shape[1]):
        known = np.flatnonzero(~gaps[:, c])
        unknown = np.flatnonzero(gaps[:, c])
        if len(unknown) == 0:
            continue
        for i in unknown[[0, -1]]:
            if len(known) == 0 or i < known[0] or i > known[-1]:
                raise DataError(
                    f"{name}, line {lines[i]}, column {columns[c]!r}: a missing value at the "
                    "start or end of the series cannot be interpolated; pass --missing drop."
                )
        values[unknown, c] = np.interp(unknown, known, values[known, c])
    return values, np.ones(len(values), dtype=bool)


# -- dates ----------------------------------------------------------------------------------------
def _date_order(
    texts: list[str], lines: list[int], name: str, column: str, options: CsvOptions
) -> list[int]:
    """Row order by date: refuses duplicates, and unsorted dates unless `options.sort`."""
    for i, text in enumerate(texts):
        if not text:
            raise DataError(
                f"{name}, line {lines[i]}, column {column!r}: expected a date, found an empty cell."
            )
    try:
        dates, _, _ = parse_dates(texts, options.date_format)
    except DateError as error:
        raise _date_error(error, name, lines, column) from None
    seen: dict[object, int] = {}
    for i, d in enumerate(dates):
        if d in seen:
            raise DataError(
                f"{name}, column {column!r}: lines {lines[seen[d]]} and {lines[i]} have the same "
                f"date {texts[i]!r}; expected one row per date."
            )
        seen[d] = i
    order = sorted(range(len(dates)), key=lambda i: dates[i])
    if not options.sort:
        for i in range(1, len(dates)):
            if dates[i] < dates[i - 1]:
                raise DataError(
                    f"{name}, column {column!r}: line {lines[i]} ({texts[i]}) comes before line "
                    f"{lines[i - 1]} ({texts[i - 1]}) in time; expected increasing dates. "
                    "Pass --sort to sort the rows."
                )
    return order


def _index(
    texts: list[str], lines: list[int], name: str, column: str, options: CsvOptions
) -> DateIndex:
    try:
        return DateIndex.parse(texts, options.date_format)
    except DateError as error:
        raise _date_error(error, name, lines, column) from None


def _date_error(error: DateError, name: str, lines: list[int], column: str) -> DataError:
    where = f"line {lines[error.index]}, " if error.index is not None else ""
    return DataError(f"{name}, {where}column {column!r}: {error}.")
