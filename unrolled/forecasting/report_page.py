"""The report's pictures and its HTML page: forecast with dates and bands, training and
validation curves, the unrolled diagram, the gates, the selection table, and an inline SVG
of the forecast that shows each value under the pointer (no server, no external script).

Fields the model search adds to `JobResult` (`candidates`, `intervals`, `coverage`, ...) are
read with `getattr` and drawn only where present.
"""

from __future__ import annotations

import datetime
import html
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from unrolled.explain.drawing import figure_bytes, new_figure
from unrolled.files import write_bytes

_DPI = 120
_BAND_COLORS = ("#fddbc7", "#f4a582")  # widest level first and lightest


def write_plots(
    result: Any, out: Path, history: dict[str, list[float]] | None = None
) -> dict[str, Path]:
    """forecast.png, training.png, diagram.png/.svg and gates.png in `out`, by name."""
    from unrolled.explain import diagram, plots

    files = {
        "forecast_plot": out / "forecast.png",
        "training_plot": out / "training.png",
        "diagram_png": out / "diagram.png",
        "diagram_svg": out / "diagram.svg",
        "gates_plot": out / "gates.png",
    }
    _forecast_png(result, files["forecast_plot"])
    _training_png(result, history, files["training_plot"])
    model = result.forecaster.model
    picture = diagram(model, timesteps=result.settings.look_back, max_columns=6)
    picture.save(files["diagram_png"])
    picture.save(files["diagram_svg"])
    forecaster = result.forecaster
    window = forecaster.transform.forward(forecaster.tail)[-result.settings.look_back :]
    encoder = getattr(model, "_encoder", model)  # an encoder-decoder's gates: its encoder's
    plots.plot_gate_activations(encoder, window.astype(np.float32), files["gates_plot"])
    return files


# -- the series on a time axis ----------------------------------------------------------------
def series_axis(result: Any) -> tuple[list[Any], list[Any], str | None]:
    """x of the observed rows and of the forecast (dates where known, else step numbers)."""
    rows, ahead = len(result.table.values), len(result.future)
    index = getattr(result.table, "index", None)
    frequency = getattr(index, "frequency", None)
    if index is None or frequency is None:
        return list(range(rows)), list(range(rows, rows + ahead)), None
    last = index.dates[-1]
    future = [frequency.advance(last, k) for k in range(1, ahead + 1)]
    return list(index.dates), future, frequency.name


def _forecast_png(result: Any, path: Path) -> None:
    figure, axes = _figure(9.0, 4.2)
    x, x_future, frequency = series_axis(result)
    y = result.table.values[:, 0].astype(np.float64)
    split = len(y) - result.test_steps
    axes.plot(x, y, color="#444444", linewidth=1.4, label="actual")
    held_out = getattr(result, "backtest_intervals", None) or {}
    for _, (low, high) in sorted(held_out.items(), reverse=True):
        axes.fill_between(x[split:], low, high, color="#9ecae1", alpha=0.5, linewidth=0)
    axes.plot(x[split:], result.backtest, color="#1f77b4", linewidth=1.2, label="held-out forecast")
    bands = getattr(result, "intervals", None) or {}
    for (level, (low, high)), color in zip(sorted(bands.items(), reverse=True), _BAND_COLORS):
        axes.fill_between(
            x_future, low, high, color=color, alpha=0.8, linewidth=0, label=f"{level:g}% interval"
        )
    axes.plot(
        [x[-1], *x_future],
        [y[-1], *result.future],
        color="#d62728",
        linewidth=1.4,
        linestyle="--",
        label="forecast",
    )
    axes.axvline(x[split], color="#888888", linestyle=":", linewidth=1.2, label="train | test")
    if frequency is not None:
        _date_ticks(axes, [*x, *x_future], frequency)
        axes.set_xlabel("date")
    else:
        axes.set_xlabel("row")
    axes.set_ylabel(f"{result.table.target} (units of the data)")
    axes.grid(alpha=0.3)
    axes.legend(loc="upper left", fontsize=8)
    axes.set_title(f"{result.table.target}: forecast of the next {len(result.future)} steps")
    write_bytes(path, figure_bytes(figure, _DPI))


def _date_ticks(axes: Any, dates: list[datetime.date], frequency: str) -> None:
    # Ticks on whole years, or on quarters for short monthly/quarterly spans; never a tick
    # between two periods.
    import matplotlib.dates as mdates
    from matplotlib.ticker import FuncFormatter

    years = (dates[-1] - dates[0]).days / 365.25
    if frequency in ("monthly", "quarterly", "yearly") or years >= 2:
        if years > 3 or frequency == "yearly":
            axes.xaxis.set_major_locator(mdates.YearLocator(base=max(1, math.ceil(years / 10))))
            axes.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
        else:
            axes.xaxis.set_major_locator(mdates.MonthLocator(bymonth=(1, 4, 7, 10)))
            axes.xaxis.set_major_formatter(FuncFormatter(_quarter_label))
    else:
        locator = mdates.AutoDateLocator()
        axes.xaxis.set_major_locator(locator)
        axes.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _quarter_label(value: float, _: Any = None) -> str:
    import matplotlib.dates as mdates

    date = mdates.num2date(value)
    return f"{date.year}-Q{(date.month - 1) // 3 + 1}"


def _training_png(result: Any, history: dict[str, list[float]] | None, path: Path) -> None:
    figure, axes = _figure(6.4, 3.4)
    from matplotlib.ticker import MaxNLocator

    curves = history or {"loss": list(result.forecaster.losses)}
    for key, style, label in (
        ("loss", "-", "training (rows before the held-out steps)" if history else "training"),
        ("val_loss", "--", f"validation (the {result.test_steps} held-out steps)"),
    ):
        values = curves.get(key)
        if values:
            axes.plot(
                range(1, len(values) + 1), values, style, marker="o", markersize=2, label=label
            )
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("epoch")
    axes.set_ylabel("MSE of standardized changes")
    axes.grid(alpha=0.3)
    axes.legend(loc="upper right", fontsize=8)
    axes.set_title("Training and validation loss" if "val_loss" in curves else "Training loss")
    write_bytes(path, figure_bytes(figure, _DPI))


def _figure(width: float, height: float) -> tuple[Any, Any]:
    figure = new_figure(width, height, _DPI, "constrained")
    return figure, figure.subplots()


# -- the page ---------------------------------------------------------------------------------
def page(result: Any, files: dict[str, Path], model_folder: str, has_validation: bool) -> str:
    """The report's index.html: self-contained apart from the images beside it."""
    e = html.escape
    s = result.settings
    rows = "".join(
        f"<tr><td>{e(_label(result, name))}</td><td>{m['rmse']:.2f}</td><td>{m['mae']:.2f}</td>"
        f"<td>{m['mape']:.2f}</td></tr>"
        for name, m in result.metrics.items()
    )
    coverage = getattr(result, "coverage", None) or {}
    coverage_text = "".join(
        f"<li>{level:g}% interval: {share * 100:.0f}% of the held-out steps inside</li>"
        for level, share in sorted(coverage.items())
    )
    figures = [
        ("forecast_plot", "Forecast against actual; the dotted line starts the held-out steps"),
        (
            "training_plot",
            "Training and validation loss per epoch of the held-out fit"
            if has_validation
            else "Training loss per epoch (no held-out fit of the recurrent model to validate)",
        ),
        ("diagram_svg", "The model unrolled over its window"),
        ("gates_plot", "Gate activations over the last window"),
    ]
    images = "".join(
        f'<figure class="{key}"><img src="{e(files[key].name)}" alt="{e(alt)}">'
        f"<figcaption>{e(alt)}</figcaption></figure>"
        for key, alt in figures
    )
    verdict = getattr(result, "verdict", "")
    notes = "".join(f"<li>{e(n)}</li>" for n in getattr(result, "notes", None) or [])
    links = [("metrics.json", "metrics.json"), ("forecast.csv", "forecast.csv")]
    links += [(name, name) for name in ("backtest.csv",) if (files["html"].parent / name).is_file()]
    links.append((f"{model_folder}/forecaster.json", f"{model_folder}/"))
    link_html = ", ".join(f'<a href="{e(href)}">{e(text)}</a>' for href, text in links)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>unrolled: {e(result.table.target)}</title>
<style>{_CSS}</style></head>
<body><h1>Forecast of {e(result.table.target)}</h1>
<p>{e(s.cell.upper())} {e(s.topology)} with units {e(str(s.units))}, look_back {s.look_back},
horizon {s.horizon}, {s.epochs} epochs; trained on changes
({e(", ".join(result.forecaster.transform.kinds))}).{_frequency_text(result)}</p>
{f"<p class=verdict>{e(verdict)}</p>" if verdict else ""}
<h2>Errors on the last {result.test_steps} steps</h2>
<table><tr><th>forecast</th><th>RMSE</th><th>MAE</th><th>MAPE %</th></tr>{rows}</table>
{f"<ul>{coverage_text}</ul>" if coverage_text else ""}
{selection_table(result)}
{f"<ul class=notes>{notes}</ul>" if notes else ""}
<h2>Forecast (point at it for values)</h2>
{hover_svg(result)}
<p>Files: {link_html}</p>
{images}
<script>{_HOVER_JS}</script>
</body></html>
"""


def _label(result: Any, name: str) -> str:
    if name != "model":
        return name
    chosen = getattr(result, "chosen", "model")
    own = f"{result.settings.cell.upper()} ({result.settings.topology})"
    return own if chosen == "model" else f"kept: {chosen}"


def _frequency_text(result: Any) -> str:
    frequency = getattr(result.table, "frequency", None)
    dates = result.table.dates
    if not frequency or not dates:
        return ""
    return f" {html.escape(frequency.capitalize())} data, {html.escape(dates[0])} to {html.escape(dates[-1])}."


def selection_table(result: Any) -> str:
    """The candidates of the model search by backtest RMSE, the kept one marked; "" if none."""
    candidates = getattr(result, "candidates", None) or []
    if not candidates:
        return ""
    rows = "".join(
        f"<tr{' class=chosen' if c.chosen else ''}><td>{html.escape(c.name)}{' (kept)' if c.chosen else ''}</td>"
        f"<td>{html.escape(c.kind)}</td><td>{c.rmse:.2f}</td><td>{c.mae:.2f}</td><td>{c.mape:.2f}</td>"
        f"<td>{decided_rmse(c)}</td><td>{c.seconds:.1f}</td></tr>"
        for c in sorted(candidates, key=lambda c: (not c.chosen, _finite(c.rmse)))
    )
    return (
        "<h2>Model selection (rolling-origin backtest inside the training rows)</h2>"
        "<p>The earlier origins choose the recurrent variant, all of them the best baseline; "
        "the later origins, which played no part in choosing the variant, decide between the "
        "two and their mean.</p>"
        '<table class="selection"><tr><th>candidate</th><th>kind</th><th>RMSE (choose)</th>'
        "<th>MAE (choose)</th><th>MAPE % (choose)</th><th>RMSE (decide)</th><th>seconds</th>"
        f"</tr>{rows}</table>"
    )


def decided_rmse(candidate: Any) -> str:
    """The RMSE on the deciding origins, or a dash: only the finalists ran them."""
    value = getattr(candidate, "decide_rmse", None)
    return "-" if value is None else f"{value:.2f}"


def _finite(value: float) -> float:
    return value if math.isfinite(value) else math.inf


def hover_svg(result: Any, width: int = 900, height: int = 260) -> str:
    """An inline SVG of the target and its forecast; the script shows the value under the pointer."""
    x, x_future, frequency = series_axis(result)
    labels = list(result.table.dates or [str(i) for i in x])
    future_labels = list(result.future_dates or [str(i) for i in x_future])
    values = [float(v) for v in result.table.values[:, 0]]
    future = [float(v) for v in result.future]
    bands = getattr(result, "intervals", None) or {}
    widest = max(bands, default=None)
    low = [float(v) for v in bands[widest][0]] if widest is not None else future
    high = [float(v) for v in bands[widest][1]] if widest is not None else future
    everything = values + future + low + high
    bottom, top = min(everything), max(everything)
    span = (top - bottom) or 1.0
    steps = len(values) + len(future)
    pad = 44

    def px(i: int) -> float:
        return round(pad + (width - 2 * pad) * i / max(1, steps - 1), 1)

    def py(v: float) -> float:
        return round(height - 24 - (height - 40) * (v - bottom) / span, 1)

    def path(points: list[tuple[int, float]]) -> str:
        return " ".join(
            f"{'M' if k == 0 else 'L'}{px(i)},{py(v)}" for k, (i, v) in enumerate(points)
        )

    n = len(values)
    band = ""
    if widest is not None:
        upper = [(n + k, v) for k, v in enumerate(high)]
        lower = [(n + k, v) for k, v in reversed(list(enumerate(low)))]
        band = f'<path d="{path(upper + lower)} Z" fill="#fddbc7" stroke="none"/>'
    points = [
        {"x": px(i), "y": py(v), "label": labels[i], "value": round(v, 6), "kind": "actual"}
        for i, v in enumerate(values)
    ] + [
        {
            "x": px(n + k),
            "y": py(v),
            "label": future_labels[k],
            "value": round(v, 6),
            "kind": "forecast",
        }
        for k, v in enumerate(future)
    ]
    data = html.escape(json.dumps(points, separators=(",", ":")), quote=True)
    target = html.escape(result.table.target)
    return (
        f'<svg class="hover-plot" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{target} and its forecast" data-points="{data}">'
        f'<rect width="{width}" height="{height}" fill="#fff"/>{band}'
        f'<path d="{path(list(enumerate(values)))}" fill="none" stroke="#444" stroke-width="1.5"/>'
        f'<path d="{path([(n - 1, values[-1]), *((n + k, v) for k, v in enumerate(future))])}" '
        'fill="none" stroke="#d62728" stroke-width="1.5" stroke-dasharray="5 3"/>'
        f'<text x="4" y="14" font-size="11">{target}: {_number(top)}</text>'
        f'<text x="4" y="{height - 6}" font-size="11">{_number(bottom)}</text>'
        f'<line class="cursor" y1="8" y2="{height - 20}" stroke="#888" visibility="hidden"/>'
        '<circle class="dot" r="4" fill="#1f77b4" visibility="hidden"/>'
        f'<text class="tip" x="{width - 8}" y="14" font-size="12" text-anchor="end"></text></svg>'
    )


def _number(value: float) -> str:
    return f"{value:.6g}"


_CSS = (
    "body{font-family:sans-serif;max-width:960px;margin:1em auto;padding:0 1em}"
    "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:4px 10px;"
    "text-align:right}td:first-child,th:first-child{text-align:left}tr.chosen{font-weight:bold;"
    "background:#eef6ee}img{max-width:100%;height:auto}figure{margin:1.5em 0}"
    "figure.diagram_svg{overflow-x:auto}figure.diagram_svg img{min-width:720px}"
    ".hover-plot{width:100%;height:auto;border:1px solid #ddd}.verdict{font-weight:bold}"
)

# Finds the point nearest the pointer and writes its date and value; ~20 lines, no library.
_HOVER_JS = """
document.querySelectorAll('svg.hover-plot').forEach(function (svg) {
  var points = JSON.parse(svg.getAttribute('data-points'));
  var cursor = svg.querySelector('.cursor'), dot = svg.querySelector('.dot');
  var tip = svg.querySelector('.tip');
  function show(event) {
    var box = svg.getBoundingClientRect(), view = svg.viewBox.baseVal;
    var x = (event.clientX - box.left) * view.width / box.width, best = points[0];
    points.forEach(function (p) { if (Math.abs(p.x - x) < Math.abs(best.x - x)) best = p; });
    cursor.setAttribute('x1', best.x); cursor.setAttribute('x2', best.x);
    dot.setAttribute('cx', best.x); dot.setAttribute('cy', best.y);
    dot.setAttribute('fill', best.kind === 'forecast' ? '#d62728' : '#1f77b4');
    tip.textContent = best.label + ': ' + best.value + ' (' + best.kind + ')';
    cursor.setAttribute('visibility', 'visible'); dot.setAttribute('visibility', 'visible');
  }
  svg.addEventListener('mousemove', show);
  svg.addEventListener('mouseleave', function () {
    cursor.setAttribute('visibility', 'hidden'); dot.setAttribute('visibility', 'hidden');
    tip.textContent = '';
  });
});
"""
