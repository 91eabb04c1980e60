"""`unrolled forecast`, `unrolled evaluate` and `unrolled explain`: work with a saved model folder."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from unrolled.forecasting.baselines import errors, naive, seasonal_naive
from unrolled.forecasting.forecaster import MODEL_FILE, Forecaster
from unrolled.forecasting.job import future_dates
from unrolled.forecasting.report import errors_table
from unrolled.forecasting.table import check_length, read_table


def add_forecast(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("forecast", help="forecast ahead with a saved model folder")
    parser.add_argument("model", help="a model folder written by demo or fit (its model/ folder)")
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument(
        "--data", default=None, help="CSV to forecast from (default: where training ended)"
    )
    parser.add_argument("--date", default=None, help="the date column of --data")
    parser.set_defaults(run=run_forecast)


def add_evaluate(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "evaluate", help="errors of a saved model on the last steps of a CSV"
    )
    parser.add_argument("model")
    parser.add_argument("data")
    parser.add_argument("--test", type=int, default=24, help="last steps to forecast and score")
    parser.add_argument("--season", type=int, default=12)
    parser.add_argument("--json", action="store_true", help="print the errors as JSON")
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
    forecaster = Forecaster.load(_folder(args.model))
    history, dates = None, None
    if args.data:
        table = read_table(args.data, forecaster.columns[0], forecaster.columns[1:], args.date)
        check_length(
            table, forecaster.settings.look_back + 1, f"look_back={forecaster.settings.look_back}"
        )
        history, dates = table.values, table.dates
    predicted = forecaster.forecast(args.steps, history)[:, 0]
    upcoming = future_dates(dates, args.steps) or [""] * args.steps
    print(f"step,date,{forecaster.columns[0]}")
    for step, (date, value) in enumerate(zip(upcoming, predicted), start=1):
        print(f"{step},{date},{value:.6g}")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    forecaster = Forecaster.load(_folder(args.model))
    table = read_table(args.data, forecaster.columns[0], forecaster.columns[1:])
    check_length(
        table,
        forecaster.settings.look_back + 1 + args.test,
        f"look_back={forecaster.settings.look_back} and --test {args.test}",
    )
    values = table.values.astype(np.float64)
    history, actual = values[: -args.test], values[-args.test :, 0]
    scores = {"model": errors(actual, forecaster.forecast(args.test, history)[:, 0])}
    scores["naive"] = errors(actual, naive(history[:, 0], args.test))
    if args.season and len(history) >= args.season:
        scores["seasonal naive"] = errors(
            actual, seasonal_naive(history[:, 0], args.test, args.season)
        )
    if args.json:
        print(json.dumps(scores, indent=2))
        return 0
    print(errors_table(scores, f"Last {args.test} steps of {forecaster.columns[0]!r}:"))
    return 0


def run_explain(args: argparse.Namespace) -> int:
    from unrolled import explain
    from unrolled.models import topologies
    from unrolled.models.model_files import load_model

    if args.topology:
        builders = {
            "one_to_one": lambda: topologies.one_to_one(
                args.features, args.outputs, args.units, cell=args.cell
            ),
            "many_to_one": lambda: topologies.many_to_one(
                args.timesteps, args.features, args.outputs, args.units, cell=args.cell
            ),
            "many_to_many": lambda: topologies.many_to_many(
                args.timesteps, args.features, args.outputs, args.units, cell=args.cell
            ),
            "one_to_many": lambda: topologies.one_to_many(
                args.timesteps, args.features, args.outputs, args.units, cell=args.cell
            ),
            "seq2seq": lambda: topologies.seq2seq(
                args.timesteps,
                args.timesteps,
                args.features,
                args.outputs,
                units=args.units,
                cell=args.cell,
            ),
            "autoencoder": lambda: topologies.autoencoder(
                args.timesteps, args.features, args.units, cell=args.cell
            ),
        }
        if args.topology not in builders:
            raise ValueError(
                f"--topology must be one of {', '.join(builders)}; received {args.topology!r}."
            )
        model = builders[args.topology]()
    elif args.model:
        path = Path(args.model)
        model = Forecaster.load(_folder(path)).model if path.is_dir() else load_model(path)
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
