"""The report folder of a job: metrics JSON, forecast CSV, the saved model, plots and an HTML page."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from unrolled.forecasting.budget import SearchPlan
from unrolled.forecasting.decision import RULE
from unrolled.forecasting.fit_record import write_fit_record
from unrolled.forecasting.intervals import level_name
from unrolled.forecasting.job import JobResult
from unrolled.forecasting.report_folder import atomic_folder, pause_for_tests
from unrolled.forecasting.report_page import decided_rmse, page, write_plots
from unrolled.forecasting.selection import recurrent_name

MODEL_FOLDER = "model"


def write_report(
    result: JobResult, folder: str | Path, history: dict[str, list[float]] | None = None
) -> dict[str, Path]:
    """Writes every file of the report into `folder`, atomically; returns them by name.

    Args:
        history: `{"loss": [...], "val_loss": [...]}` of the held-out fit (the validation
            curve); default: the saved forecaster's training loss.
    """
    final = Path(folder)
    with atomic_folder(final) as out:
        files = {
            "metrics": out / "metrics.json",
            "forecast": out / "forecast.csv",
            "model": out / MODEL_FOLDER,
        }
        files["metrics"].write_text(json.dumps(metrics_document(result), indent=2))
        _write_forecast_csv(result, files["forecast"])
        files["backtest"] = out / "backtest.csv"
        _write_backtest_csv(result, files["backtest"])
        pause_for_tests()
        result.forecaster.save(files["model"])
        write_fit_record(result, files["model"])
        pause_for_tests()
        files |= write_plots(result, out, history)
        files["html"] = out / "index.html"
        files["html"].write_text(page(result, files, MODEL_FOLDER, bool(history)))
        pause_for_tests()
    return {name: final / path.relative_to(out) for name, path in files.items()}


def metrics_document(result: JobResult) -> dict[str, Any]:
    """The metrics JSON: errors on the held-out steps per forecaster, and the settings."""
    return {
        "target": result.table.target,
        "features": result.table.columns[1:],
        "rows": int(len(result.table.values)),
        "test_steps": result.test_steps,
        "season": result.season,
        "errors": result.metrics,
        "settings": vars(result.settings),
        **selection_document(result),
    }


def selection_document(result: JobResult) -> dict[str, Any]:
    """The search: every candidate's backtest errors, the one kept, intervals' coverage."""
    origins = result.backtests[0].origins if result.backtests else []
    return {
        "chosen": result.chosen,
        "chosen_kind": result.chosen_kind,
        "winner_is_baseline": result.winner_is_baseline,
        "forecast_csv_from": result.chosen,
        "produced_by": result.produced_by,
        "verdict": result.verdict,
        "selection_rule": RULE,
        "backtest_origins": origins,
        "choose_origins": result.choose_origins,
        "decide_origins": result.decide_origins,
        "candidates": [_finite(vars(c)) for c in result.candidates],
        "search_plan": _plan_document(result.plan),
        "interval_coverage": {level_name(k): v for k, v in result.coverage.items()},
        "notes": result.notes,
        "search_seconds": round(result.search_seconds, 2),
    }


def _plan_document(plan: SearchPlan | None) -> dict[str, Any] | None:
    """The recurrent configurations tried and skipped, and the estimate that chose them."""
    if plan is None:
        return None
    return {
        "budget_seconds": plan.budget,
        "estimated_seconds": round(plan.estimated_seconds, 2),
        "tried": [recurrent_name(s) for s in plan.tried],
        "skipped": [recurrent_name(s) for s in plan.skipped],
    }


def _finite(row: dict[str, Any]) -> dict[str, Any]:
    # JSON has no NaN: an error that could not be computed is null.
    return {k: None if isinstance(v, float) and v != v else v for k, v in row.items()}


def summary_table(result: JobResult) -> str:
    """The short table the CLI prints: each forecaster's errors on the held-out steps."""
    s = result.settings
    label = (
        result.chosen if result.chosen_kind != "recurrent" else f"{s.cell.upper()} ({s.topology})"
    )
    table = errors_table(
        result.metrics,
        f"Last {result.test_steps} steps of {result.table.target!r} held out:\n",
        model_label=label,
    )
    lines = [
        table,
        "",
        "Backtest of the candidates (RMSE on the earlier origins, which choose the recurrent "
        "variant; on the later ones, which decide between it and the best baseline, chosen on "
        "all the origins):",
    ]
    width = max([48, *(len(c.name) + 2 for c in result.candidates)])
    lines.append(f"  {'candidate':<{width}}{'choose':>10}{'decide':>10}")
    for c in result.candidates:
        mark = "  <- kept" if c.chosen else ""
        lines.append(f"  {c.name:<{width}}{c.rmse:>10.2f}{decided_rmse(c):>10}{mark}")
    lines += ["", result.verdict, *result.notes]
    return "\n".join(lines)


def errors_table(
    scores: dict[str, dict[str, float]], title: str, model_label: str = "model"
) -> str:
    """`title`, then one row of RMSE, MAE and MAPE per forecaster ("model" shown as `model_label`)."""
    labels = {name: model_label if name == "model" else name for name in scores}
    width = max([16, *(len(label) + 2 for label in labels.values())])
    lines = [title, f"  {'forecast':<{width}}{'RMSE':>10}{'MAE':>10}{'MAPE %':>10}"]
    for name, e in scores.items():
        lines.append(
            f"  {labels[name]:<{width}}{e['rmse']:>10.2f}{e['mae']:>10.2f}{e['mape']:>10.2f}"
        )
    return "\n".join(lines)


def _write_forecast_csv(result: JobResult, path: Path) -> None:
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        levels = sorted(result.intervals)
        bounds = [f"{side}_{level_name(level)}" for level in levels for side in ("lower", "upper")]
        writer.writerow(["step", "date", result.table.target, *bounds])
        dates = result.future_dates or [""] * len(result.future)
        for step, (date, value) in enumerate(zip(dates, result.future), start=1):
            band = [
                f"{result.intervals[lv][side][step - 1]:.6g}" for lv in levels for side in (0, 1)
            ]
            writer.writerow([step, date, f"{value:.6g}", *band])


def _write_backtest_csv(result: JobResult, path: Path) -> None:
    """One row per origin and step: the actual value and every candidate's forecast."""
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(
            ["origin", "step", "row", "actual", *(b.candidate.name for b in result.backtests)]
        )
        if not result.backtests:
            return
        full = max(result.backtests, key=lambda b: len(b.origins))
        for k, origin in enumerate(full.origins):
            for h, actual in enumerate(full.actuals[k]):
                cells = [
                    f"{b.predictions[k, h]:.6g}" if k < len(b.origins) else ""
                    for b in result.backtests
                ]
                writer.writerow([k + 1, h + 1, origin + h, f"{actual:.6g}", *cells])
