"""`unrolled demo` and `unrolled fit`: the main job on the bundled data or a CSV file."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from unrolled.cli.data_options import add_data_options, csv_options_from
from unrolled.cli.options import add_training_options, search_from, settings_from
from unrolled.cli.progress import EpochBar
from unrolled.datasets import airline_passengers
from unrolled.forecasting.dates import DateIndex
from unrolled.forecasting.job import run_job
from unrolled.forecasting.report import summary_table, write_report
from unrolled.forecasting.table import Table, read_table
from unrolled.forecasting.validation import EpochSnapshots, validation_curve

DEMO_BUDGET = 10.0


def add_demo(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "demo",
        help="the main job on the bundled airline-passengers data",
        description="Windows the 144 monthly airline totals, trains an LSTM, compares it with naive "
        "forecasts on the last 24 months, forecasts 24 more and writes a report folder.",
    )
    # A short search budget keeps the demo under a minute: the user's configuration and
    # the baselines always run; the variants of the grid fill what is left of it.
    add_training_options(parser, look_back=24, horizon=12, budget=DEMO_BUDGET)
    parser.set_defaults(run=run_demo, out_default="unrolled-demo")


def add_fit(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("fit", help="train on a CSV file and write a report folder")
    parser.add_argument("data", help="CSV file with a header row")
    parser.add_argument("--target", required=True, help="the column to forecast")
    parser.add_argument(
        "--features", default="", help="other numeric columns to use, comma separated"
    )
    parser.add_argument(
        "--date",
        default=None,
        help="the date column: its frequency is detected and the forecast's dates continue it",
    )
    add_data_options(parser)
    add_training_options(parser, look_back=12, horizon=1)
    parser.set_defaults(run=run_fit, out_default="unrolled-report")


def run_demo(args: argparse.Namespace) -> int:
    series = airline_passengers()
    dates = list(series.dates)
    table = Table(["passengers"], series.values.reshape(-1, 1), dates, DateIndex.parse(dates))
    return _run(table, args)


def run_fit(args: argparse.Namespace) -> int:
    features = [f.strip() for f in args.features.split(",") if f.strip()]
    table = read_table(args.data, args.target, features, args.date, csv_options_from(args))
    return _run(table, args)


def _run(table: Table, args: argparse.Namespace) -> int:
    started = time.time()
    torch.set_num_threads(max(1, args.threads))
    settings = settings_from(args)
    show = not args.quiet and sys.stderr.isatty() or args.progress
    snapshots = EpochSnapshots()  # the held-out fit's weights per epoch: the validation curve
    result = run_job(
        table,
        settings,
        test_steps=args.test,
        future_steps=args.steps,
        season=args.season or None,
        refit=not args.no_refit,
        callbacks=lambda stage: [
            EpochBar(settings.epochs, stage, enabled=show),
            *([snapshots] if stage == "backtest" else []),
        ],
        search=search_from(args),
    )
    out = Path(args.out or args.out_default)
    curve = validation_curve(snapshots, table.values, result.settings, result.test_steps)
    files = write_report(result, out, history=curve)
    if not args.quiet:
        print(summary_table(result))
        dates = result.future_dates
        span = f" ({dates[0]} to {dates[-1]})" if dates else ""
        print(f"\nForecast of the next {len(result.future)} steps{span}: {files['forecast']}")
        print(
            f"Report: {files['html']} (metrics.json, plots, model/) in {time.time() - started:.1f} s"
        )
    return 0
