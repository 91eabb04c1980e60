"""`unrolled forecast`, `unrolled evaluate` and `unrolled explain`: work with a saved model folder."""

from __future__ import annotations

import argparse
import json
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from unrolled.cli.data_options import add_data_options, csv_options_from
from unrolled.errors import ConfigError
from unrolled.forecasting.baselines import errors, naive, seasonal_naive
from unrolled.forecasting.fit_record import FitRecord, end_of, read_fit_record
from unrolled.forecasting.forecaster import FORMAT_VERSION, MODEL_FILE, SETTINGS_FILE, Forecaster
from unrolled.forecasting.report import errors_table
from unrolled.forecasting.table import Table, check_length, read_table
from unrolled.forecasting.winner import winner_history, winner_predictor
from unrolled.saving.archive import FORMAT_VERSION as FILE_FORMAT
from unrolled.saving.archive import METADATA


def add_forecast(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("forecast", help="forecast ahead with a saved model folder")
    parser.add_argument("model", help="a model folder written by demo or fit (its model/ folder)")
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument(
        "--data", default=None, help="CSV to forecast from (default: where training ended)"
    )
    parser.add_argument(
        "--date", default=None, help="the date column of --data (the forecast's dates continue it)"
    )
    add_data_options(parser)
    parser.set_defaults(run=run_forecast)


def add_evaluate(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "evaluate", help="errors of a saved model on the last steps of a CSV"
    )
    parser.add_argument("model")
    parser.add_argument("data")
    parser.add_argument("--test", type=int, default=24, help="last steps to forecast and score")
    parser.add_argument(
        "--season",
        type=int,
        default=None,
        help="season of the seasonal-naive forecast (default: the one saved at fit time; 0: none)",
    )
    parser.add_argument(
        "--date", default=None, help="the date column (tells the fitted rows by date)"
    )
    parser.add_argument("--json", action="store_true", help="print the errors as JSON")
    add_data_options(parser)
    parser.set_defaults(run=run_evaluate)


def add_explain(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "explain", help="shape trace, gate parameters and unrolled diagram"
    )
    parser.add_argument("model", nargs="?", help="a model folder or model file")
    parser.add_argument(
        "--topology", default=None, help="explain a fresh model of this topology instead"
    )
    parser.add_argument("--timesteps", type=int, default=10)
    parser.add_argument("--features", type=int, default=1)
    parser.add_argument("--outputs", type=int, default=1)
    parser.add_argument("--units", type=int, default=16)
    parser.add_argument("--cell", default="lstm")
    parser.add_argument("--out", default=None, help="folder for diagram.svg and diagram.png")
    parser.set_defaults(run=run_explain)


def run_forecast(args: argparse.Namespace) -> int:
    folder = _folder(args.model)
    forecaster = _load(folder)
    record = read_fit_record(folder)
    history, upcoming = None, None
    if args.data:
        table = _read(args, forecaster)
        check_length(
            table, forecaster.settings.look_back + 1, f"look_back={forecaster.settings.look_back}"
        )
        history, upcoming = table.values, table.future_dates(args.steps)
    index = record.index() if record is not None else None
    if upcoming is None and index is not None and record is not None:
        # Without --data, or with data ending where the fit ended: after the last fitted date.
        target = np.asarray(record.target[-8:], dtype=np.float64)
        if history is None or end_of(history[:, 0].astype(np.float64), target) == len(history):
            upcoming = index.future(args.steps)
    winner = _winner(record, forecaster, args.quiet)
    if winner is None:
        predicted = forecaster.forecast(args.steps, history)[:, 0]
    else:  # the baseline (or mean) that won at fit time, as in forecast.csv
        known = history if history is not None else winner_history(record.winner)  # type: ignore[union-attr]
        predicted = winner.forecast(np.asarray(known, dtype=np.float64), args.steps)
    upcoming = upcoming or [""] * args.steps
    print(f"step,date,{forecaster.columns[0]}")
    for step, (date, value) in enumerate(zip(upcoming, predicted), start=1):
        print(f"{step},{date},{value:.6g}")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    folder = _folder(args.model)
    forecaster = _load(folder)
    record = read_fit_record(folder)
    table = _read(args, forecaster)
    check_length(
        table,
        forecaster.settings.look_back + 1 + args.test,
        f"look_back={forecaster.settings.look_back} and --test {args.test}",
    )
    season = args.season if args.season is not None else _saved_season(record)
    values = table.values.astype(np.float64)
    history, actual = values[: -args.test], values[-args.test :, 0]
    winner = _winner(record, forecaster, args.quiet)
    predicted = (
        forecaster.forecast(args.test, history)[:, 0]
        if winner is None
        else winner.forecast(history, args.test)
    )
    scores = {"model": errors(actual, predicted)}
    scores["naive"] = errors(actual, naive(history[:, 0], args.test))
    if season and len(history) >= season:
        scores["seasonal naive"] = errors(actual, seasonal_naive(history[:, 0], args.test, season))
    seen = _rows_seen_in_fit(table, args.test, record, forecaster)
    if seen and not args.quiet:
        first = len(values) - args.test
        where = f" (from {table.dates[first]})" if table.dates else ""
        print(
            f"unrolled evaluate: warning: {seen} of the {args.test} evaluated rows{where} were "
            "part of the data the model was fitted on, so these errors are optimistic; "
            "evaluate on rows after the fitted ones, or fit with --no-refit and the same --test.",
            file=sys.stderr,
        )
    if args.json:
        print(json.dumps(scores, indent=2))
        return 0
    label = f"Last {args.test} steps of {forecaster.columns[0]!r}"
    print(
        errors_table(
            scores,
            f"{label} (seasonal naive: season {season}):" if season else f"{label}:",
            model_label="model" if winner is None else str(record.winner["name"]),  # type: ignore[union-attr]
        )
    )
    return 0


def _winner(record: FitRecord | None, forecaster: Forecaster, quiet: bool) -> Any:
    """The baseline or mean that won at fit time (None: the saved recurrent model won)."""
    winner = winner_predictor(record.winner if record else None, forecaster)
    if winner is not None and not quiet:
        print(
            f"unrolled: forecasting with {record.winner['name']}, which won the backtest at "  # type: ignore[union-attr]
            "fit time and wrote forecast.csv (model/ holds the best recurrent candidate, "
            "for `unrolled explain`).",
            file=sys.stderr,
        )
    return winner


def _read(args: argparse.Namespace, forecaster: Forecaster) -> Table:
    """`--data` (and its `--date` column) with the columns the forecaster was fitted on."""
    target, *features = forecaster.columns
    return read_table(args.data, target, features, args.date, csv_options_from(args))


def _saved_season(record: FitRecord | None) -> int | None:
    # Folders written before the record was kept: the former default.
    return record.season if record is not None else 12


def _rows_seen_in_fit(
    table: Table, test: int, record: FitRecord | None, forecaster: Forecaster
) -> int:
    """How many of the last `test` rows the model was fitted on: by date, else by value."""
    first = len(table.values) - test
    saved = record.index() if record is not None else None
    if saved is not None and table.index is not None:
        last = saved.dates[-1]
        return sum(1 for d in table.index.dates[first:] if d <= last)
    # The fitted target's last values (or, in folders without a record, the levels the
    # model forecasts from) located in the evaluated file: the rows up to there were fitted.
    reference = (
        np.asarray(record.target, dtype=np.float64)
        if record is not None
        else np.asarray(forecaster.tail, dtype=np.float64)[:, 0]
    )
    end = end_of(table.values[:, 0].astype(np.float64), reference[-8:])
    return max(0, end - first)


def _load(folder: Path) -> Forecaster:
    # A newer folder gets one sentence, before the loader reads anything else of it.
    versions = [(_version_in(folder / SETTINGS_FILE), FORMAT_VERSION, "folder format")]
    versions.append((_version_in(folder / MODEL_FILE, METADATA), FILE_FORMAT, "model file format"))
    for version, known, what in versions:
        if version > known:
            raise ConfigError(
                f"{folder} was saved by a newer unrolled ({what} {version}; this one reads up "
                f"to {known}): upgrade unrolled to use it."
            )
    return Forecaster.load(folder)


def _version_in(path: Path, member: str | None = None) -> int:
    """The `format_version` in a JSON file, or in a JSON member of a zip file; 0 if unreadable."""
    try:
        if member is None:
            text = path.read_bytes()
        else:
            with zipfile.ZipFile(path) as archive:
                text = archive.read(member)
        version = json.loads(text).get("format_version", 0)
    except (OSError, ValueError, KeyError, AttributeError, zipfile.BadZipFile):
        return 0
    return version if isinstance(version, int) and not isinstance(version, bool) else 0


def run_explain(args: argparse.Namespace) -> int:
    from unrolled import explain
    from unrolled.models import topologies
    from unrolled.models.model_files import load_model

    if args.topology:
        # Every topology but the autoencoder takes these by name (its latent size is --units).
        sizes = {
            "features": args.features,
            "outputs": args.outputs,
            "units": args.units,
            "cell": args.cell,
        }
        steps = args.timesteps
        builders = {
            "one_to_one": lambda: topologies.one_to_one(**sizes),
            "many_to_one": lambda: topologies.many_to_one(steps, **sizes),
            "many_to_many": lambda: topologies.many_to_many(steps, **sizes),
            "one_to_many": lambda: topologies.one_to_many(steps, **sizes),
            "seq2seq": lambda: topologies.seq2seq(steps, steps, **sizes),
            "autoencoder": lambda: topologies.autoencoder(
                steps, args.features, args.units, cell=args.cell
            ),
        }
        if args.topology not in builders:
            raise ValueError(
                f"--topology must be one of {', '.join(builders)}; received {args.topology!r}."
            )
        model = builders[args.topology]()
    elif args.model:
        path = Path(args.model)
        model = _load(_folder(path)).model if path.is_dir() else load_model(path)
    else:
        raise ValueError("explain needs a model folder or file, or --topology NAME.")
    print(explain.explain_text(model))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        picture = explain.diagram(model, timesteps=_timesteps(model, args.timesteps))
        picture.save(out / "diagram.svg")
        picture.save(out / "diagram.png")
        print(f"\nDiagram: {out / 'diagram.svg'}, {out / 'diagram.png'}")
    return 0


def _timesteps(model: object, default: int) -> int:
    shape = getattr(model, "input_shape", None)
    shape = shape[0] if isinstance(shape, list) else shape
    return shape[1] if isinstance(shape, tuple) and len(shape) == 3 and shape[1] else default


def _folder(path: str | Path) -> Path:
    # Accept the report folder as well as its model/ folder inside.
    folder = Path(path)
    if not (folder / MODEL_FILE).is_file() and (folder / "model" / MODEL_FILE).is_file():
        return folder / "model"
    return folder
