"""How `fit`, `forecast --data` and `evaluate` read a CSV file: the `CsvOptions` fields as flags."""

from __future__ import annotations

import argparse
from dataclasses import fields

from unrolled.forecasting.table import MISSING, CsvOptions


def add_data_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("reading the file")
    group.add_argument(
        "--sep", default=None, help="delimiter, e.g. ';' or '\\t' (default: sniffed)"
    )
    group.add_argument(
        "--decimal",
        choices=[".", ","],
        default=None,
        metavar="{.|,}",
        help="decimal mark (default: sniffed from the numbers)",
    )
    group.add_argument("--encoding", default="utf-8", help="text encoding (default utf-8)")
    group.add_argument(
        "--missing",
        choices=MISSING,
        default="error",
        help="missing values: refuse naming the line (default), drop the row, or interpolate",
    )
    group.add_argument(
        "--sort", action="store_true", help="sort the rows by date instead of refusing"
    )
    group.add_argument(
        "--date-format",
        default=None,
        help="strptime format of the date column, e.g. %%d/%%m/%%Y (default: recognised)",
    )


def csv_options_from(args: argparse.Namespace) -> CsvOptions:
    # Each flag above is stored under its CsvOptions field's name.
    return CsvOptions(**{f.name: getattr(args, f.name) for f in fields(CsvOptions)})
