"""Arguments shared by the subcommands that train (`demo`, `fit`)."""

from __future__ import annotations

import argparse
from dataclasses import fields

from unrolled.forecasting.forecaster import TOPOLOGIES, ForecastSettings
from unrolled.forecasting.job import MODELS, SearchSettings
from unrolled.forecasting.transforms import KINDS


def add_training_options(
    parser: argparse.ArgumentParser,
    look_back: int,
    horizon: int,
    budget: float = SearchSettings.budget,
) -> None:
    group = parser.add_argument_group("model and training")
    group.add_argument(
        "--look-back",
        type=int,
        default=look_back,
        help=f"steps per input window (default {look_back})",
    )
    group.add_argument(
        "--horizon",
        type=int,
        default=horizon,
        help=f"steps predicted per window (default {horizon})",
    )
    group.add_argument(
        "--topology",
        choices=TOPOLOGIES,
        default="many_to_one",
        help="many_to_one (window to horizon values) or seq2seq (encoder-decoder)",
    )
    group.add_argument("--cell", choices=["lstm", "gru", "simplernn"], default="lstm")
    group.add_argument(
        "--units",
        default="32",
        help="units per recurrent layer; a comma list stacks layers (e.g. 64,32)",
    )
    group.add_argument("--epochs", type=int, default=100)
    group.add_argument("--batch-size", type=int, default=16)
    group.add_argument("--learning-rate", type=float, default=0.01)
    group.add_argument(
        "--transform",
        choices=KINDS,
        default="auto",
        help="model changes, not levels (auto: log-diff for positive series, else diff)",
    )
    group.add_argument("--seed", type=int, default=0)
    group.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: small models run fastest on one)",
    )
    run = parser.add_argument_group("evaluation and output")
    run.add_argument(
        "--test",
        type=int,
        default=24,
        help="last steps held out to compare against naive forecasts (default 24)",
    )
    run.add_argument(
        "--steps", type=int, default=24, help="steps to forecast after the data (default 24)"
    )
    run.add_argument(
        "--season",
        type=int,
        default=12,
        help="season length of the seasonal-naive forecast (0: none)",
    )
    run.add_argument(
        "--no-refit",
        action="store_true",
        help="forecast with the backtest model instead of refitting on all rows",
    )
    run.add_argument("--out", default=None, help="report folder")
    search = parser.add_argument_group("model selection and intervals")
    search.add_argument(
        "--model",
        choices=MODELS,
        default="auto",
        help="auto: keep the best of the recurrent configurations and the baselines (naive, "
        "seasonal naive, exponential smoothing) by rolling-origin backtest; lstm or gru: "
        "keep the best configuration of that cell (default auto)",
    )
    search.add_argument(
        "--budget",
        type=float,
        default=budget,
        help=f"seconds for the search, estimated before it starts (the same data and arguments "
        f"try the same candidates on any machine); recurrent candidates that do not fit are "
        f"skipped, with a note (default {budget:g})",
    )
    search.add_argument(
        "--interval",
        default="80,95",
        help="prediction-interval levels in percent, comma separated (default 80,95)",
    )


def search_from(args: argparse.Namespace) -> SearchSettings:
    return SearchSettings(model=args.model, budget=args.budget, intervals=args.interval)


def settings_from(args: argparse.Namespace) -> ForecastSettings:
    try:
        units = [int(u) for u in str(args.units).split(",") if u.strip()]
    except ValueError:
        raise ValueError(
            f"--units must be integers separated by commas; received {args.units!r}."
        ) from None
    # The other settings are flags of the same name (the ensemble size is the search's seeds).
    flags = [f.name for f in fields(ForecastSettings) if f.name not in ("units", "ensemble")]
    return ForecastSettings(units=units, **{name: getattr(args, name) for name in flags})
