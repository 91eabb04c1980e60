"""The report folder of a job: metrics JSON, forecast CSV, the saved model, plots and an HTML page."""

from __future__ import annotations

import csv
import html
import json
from pathlib import Path
from typing import Any

import numpy as np

from unrolled.forecasting.job import JobResult

MODEL_FOLDER = "model"


def write_report(result: JobResult, folder: str | Path) -> dict[str, Path]:
    """Writes every file of the report into `folder`; returns them by name."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "metrics": out / "metrics.json",
        "forecast": out / "forecast.csv",
        "model": out / MODEL_FOLDER,
    }
    files["metrics"].write_text(json.dumps(metrics_document(result), indent=2))
    _write_forecast_csv(result, files["forecast"])
    result.forecaster.save(files["model"])
    files |= _write_plots(result, out)
    files["html"] = out / "index.html"
    files["html"].write_text(_html(result, files))
    return files


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
    }


def summary_table(result: JobResult) -> str:
    """The short table the CLI prints: each forecaster's errors on the held-out steps."""
    s = result.settings
    return errors_table(
        result.metrics,
        f"Last {result.test_steps} steps of {result.table.target!r} held out:\n",
        model_label=f"{s.cell.upper()} ({s.topology})",
    )


def errors_table(
    scores: dict[str, dict[str, float]], title: str, model_label: str = "model"
) -> str:
    """`title`, then one row of RMSE, MAE and MAPE per forecaster ("model" shown as `model_label`)."""
    lines = [title, f"  {'forecast':<16}{'RMSE':>10}{'MAE':>10}{'MAPE %':>10}"]
    for name, e in scores.items():
        label = model_label if name == "model" else name
        lines.append(f"  {label:<16}{e['rmse']:>10.2f}{e['mae']:>10.2f}{e['mape']:>10.2f}")
    return "\n".join(lines)


def _write_forecast_csv(result: JobResult, path: Path) -> None:
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["step", "date", result.table.target])
        dates = result.future_dates or [""] * len(result.future)
        for step, (date, value) in enumerate(zip(dates, result.future), start=1):
            writer.writerow([step, date, f"{value:.6g}"])


def _write_plots(result: JobResult, out: Path) -> dict[str, Path]:
    from unrolled.explain import diagram, plots

    target = result.table.values[:, 0]
    split = len(target) - result.test_steps
    files = {
        "forecast_plot": out / "forecast.png",
        "training_plot": out / "training.png",
        "diagram_png": out / "diagram.png",
        "diagram_svg": out / "diagram.svg",
        "gates_plot": out / "gates.png",
    }
    plots.plot_forecast(
        files["forecast_plot"],
        actual=target,
        predicted=np.concatenate([np.full(split, np.nan), result.backtest]),
        split_index=split,
        dates=result.table.dates,
        forecast=result.future,
    )
    plots.plot_history({"loss": result.forecaster.losses}, files["training_plot"])
    model = result.forecaster.model
    picture = diagram(model, timesteps=result.settings.look_back)
    picture.save(files["diagram_png"])
    picture.save(files["diagram_svg"])
    forecaster = result.forecaster
    window = forecaster.transform.forward(forecaster.tail)[-result.settings.look_back :]
    plots.plot_gate_activations(_encoder_of(model), window.astype(np.float32), files["gates_plot"])
    return files


def _encoder_of(model: Any) -> Any:
    # An encoder-decoder's gates are drawn for its encoder, which reads the window.
    return getattr(model, "_encoder", model)


def _html(result: JobResult, files: dict[str, Path]) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{e['rmse']:.2f}</td><td>{e['mae']:.2f}</td><td>{e['mape']:.2f}</td></tr>"
        for name, e in result.metrics.items()
    )
    s = result.settings
    images = "".join(
        f'<figure><img src="{files[key].name}" alt="{alt}"><figcaption>{alt}</figcaption></figure>'
        for key, alt in [
            ("forecast_plot", "Forecast against actual; the line marks the held-out steps"),
            ("training_plot", "Training loss per epoch"),
            ("diagram_svg", "The model unrolled over its window"),
            ("gates_plot", "Gate activations over the last window"),
        ]
    )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>unrolled: {html.escape(result.table.target)}</title>
<style>body{{font-family:sans-serif;max-width:960px;margin:2em auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 10px;text-align:right}}img{{max-width:100%}}</style></head>
<body><h1>Forecast of {html.escape(result.table.target)}</h1>
<p>{html.escape(s.cell.upper())} {html.escape(s.topology)} with units {s.units}, look_back {s.look_back}, horizon {s.horizon},
{s.epochs} epochs; trained on changes ({html.escape(", ".join(result.forecaster.transform.kinds))}).</p>
<h2>Errors on the last {result.test_steps} steps</h2>
<table><tr><th>forecast</th><th>RMSE</th><th>MAE</th><th>MAPE %</th></tr>{rows}</table>
<p>Files: <a href="metrics.json">metrics.json</a>, <a href="forecast.csv">forecast.csv</a>, <a href="{MODEL_FOLDER}/">model/</a></p>
{images}
</body></html>
"""
