"""Forecast accuracy on real series (issue 18): the job with its selection against naive,
seasonal naive, Holt-Winters and SARIMA on the same hold-out.

Twelve series shipped inside PyPI packages (statsmodels' datasets and unrolled's airline
data; nothing is downloaded): monthly, quarterly and yearly. Each holds out its last one or
two seasons (yearly series without a season: the last 10 years). Ours is `run_job` as
`unrolled fit` runs it (search, selection, conformal intervals) with `refit=False`, so its
forecast of the hold-out comes from the training part only.

Targets: on every series ours within 5% of the better of naive and seasonal naive (RMSE);
geometric mean of RMSE(ours) / RMSE(Holt-Winters) <= 1; 80% intervals cover 70-90% of the
hold-out points on average.

    python benchmarks/forecast_accuracy.py            # all series; writes its RESULTS.md section
    python benchmarks/forecast_accuracy.py --quick    # three series, small budget, writes nothing
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from dataclasses import dataclass

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np
import torch
from report import header_lines, write_section

from unrolled.datasets import airline_passengers
from unrolled.forecasting.baselines import ExponentialSmoothing, errors, naive, seasonal_naive
from unrolled.forecasting.forecaster import ForecastSettings
from unrolled.forecasting.job import MARGIN, SearchSettings, run_job
from unrolled.forecasting.table import Table

NAIVE_SLACK, HW_RATIO, COVERAGE = 1.05, 1.0, (0.70, 0.90)
READING = [
    "- Reading it: the macrodata hold-outs are 2007Q4-2009Q3, the recession. Every model "
    "fitted before it (ours, Holt-Winters, SARIMA) extends the trend and misses the fall, "
    "where repeating the last value does not; nothing in the training part tells a backtest "
    "to prefer the naive forecast, so realgdp, realcons and realinv fail the naive target "
    "(their backtests prefer the trend by far; Holt-Winters and SARIMA are 1.1-3.8x the best "
    "naive there too). Intervals calibrated back to the 1970s and relative to the level cover "
    "38-50% of those points.",
    "- The selection is nested: the recurrent variant is chosen on the earlier three origins "
    "and meets the best baseline on the later three, which played no part in choosing it, so "
    "the winner's curse of picking the best of several variants on the origins it is then "
    "judged on is gone; the search is planned from cost estimates before it starts (every "
    "configuration fitted the 60 s budget on every series), so the rows do not depend on the "
    "machine's load. Against the one-stage run before it (--budget 20, read off the wall "
    "clock and hit on 10 of 11 series): naive target 7/11 in both, geometric mean vs "
    "Holt-Winters 0.942 -> 0.952, coverage 0.75 -> 0.73. Better: El Nino (mean of LSTM and "
    "seasonal naive, 0.993, was seasonal naive 1.031), unemp (mean of LSTM and exponential "
    "smoothing, 2.19, was 2.375). Worse: realinv keeps the LSTM (569, was the mean of the "
    "LSTM and naive, 500); sunspots keeps the look_back=22 variant, tried only now (15.3, was "
    "13.5 with look_back 12).",
    "- A first nested run also chose the best baseline on the earlier three origins only: "
    "danish lrm then kept naive (0.077 against exponential smoothing's 0.036 on the hold-out; "
    "naive had won the three earliest origins, with 23-31 quarters of history, and "
    "exponential smoothing both later ones), the geometric mean read 1.021 and coverage 0.69. "
    "The baseline is now chosen on all six origins: three fixed-form forecasts cost little "
    "selection bias, and its flattering later-origin scores only make the recurrent case "
    "harder. This change was made after seeing that run, and is reported as such.",
    "- Nile is not fixed by the nested rule: the LSTM with transform=none is chosen on the "
    "three earlier origins, forecasting 1926-1945 (RMSE 129 against exponential smoothing's "
    "132), then beats exponential smoothing on the three later ones, forecasting 1941-1960 "
    "(103 vs 128, at two of three), which it was not chosen on, and still loses the "
    "1961-1970 hold-out (186 vs naive 153). "
    "Its backtest edge is measured without selection bias, on three overlapping 10-year "
    "windows, and does not carry to the next decade; we did not change the rule or the "
    "hold-out to reach the target.",
]


@dataclass
class Series:
    name: str
    frequency: str
    values: np.ndarray
    season: int | None
    hold_out: int


def load_series() -> list[Series]:
    """The series, from statsmodels' bundled data files (and unrolled's airline file)."""
    import statsmodels.api as sm

    co2 = sm.datasets.co2.load_pandas().data["co2"].resample("MS").mean().interpolate()
    elnino = sm.datasets.elnino.load_pandas().data.drop(columns="YEAR").to_numpy().ravel()
    macro = sm.datasets.macrodata.load_pandas().data
    danish = sm.datasets.danish_data.load_pandas().data
    nile = sm.datasets.nile.load_pandas().data["volume"].to_numpy()
    sunspots = sm.datasets.sunspots.load_pandas().data["SUNACTIVITY"].to_numpy()
    quarterly = [
        Series(f"macrodata {c}", "quarterly", macro[c].to_numpy(), 4, 8)
        for c in ("realgdp", "realcons", "realinv", "unemp", "cpi")
    ]
    return [
        Series("airline (unrolled)", "monthly", airline_passengers().values, 12, 24),
        Series("co2 (monthly mean, 1980-2001)", "monthly", co2["1980":].to_numpy(), 12, 24),
        Series("elnino SST (1975-2010)", "monthly", elnino[-432:], 12, 24),
        *quarterly,
        Series("danish lrm", "quarterly", danish["lrm"].to_numpy(), 4, 8),
        Series("nile", "yearly", nile, None, 10),
        Series("sunspots (1800-2008)", "yearly", sunspots[-209:], 11, 11),
    ]


def sarima(train: np.ndarray, steps: int, season: int | None) -> np.ndarray:
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    seasonal = (0, 1, 1, season) if season and season > 1 else (0, 0, 0, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = SARIMAX(train, order=(1, 1, 1), seasonal_order=seasonal).fit(disp=False)
    return np.asarray(fitted.forecast(steps), dtype=np.float64)


def evaluate(series: Series, budget: float, epochs: int) -> dict[str, object]:
    values = np.asarray(series.values, dtype=np.float64)
    train, actual = values[: -series.hold_out], values[-series.hold_out :]
    h, s = series.hold_out, series.season
    settings = ForecastSettings(look_back=12, horizon=h, epochs=epochs)
    table = Table([series.name], values.reshape(-1, 1).astype(np.float32))
    started = time.perf_counter()
    result = run_job(
        table,
        settings,
        test_steps=h,
        future_steps=h,
        season=s,
        refit=False,
        search=SearchSettings(budget=budget, intervals=(80.0,)),
    )
    seconds = time.perf_counter() - started
    forecasts = {
        "naive": naive(train, h),
        "Holt-Winters": ExponentialSmoothing(s).fit(train).forecast(train, h),
        "SARIMA": sarima(train, h, s),
    }
    if s:
        forecasts["seasonal naive"] = seasonal_naive(train, h, s)
    scores = {name: errors(actual, f) for name, f in forecasts.items()}
    scores["ours"] = errors(actual, result.backtest)
    return {
        "series": series,
        "scores": scores,
        "chosen": result.chosen,
        "coverage": result.coverage.get(80.0, float("nan")),
        "seconds": seconds,
        "tried": len(result.plan.tried) if result.plan else 0,
        "grid": len(result.plan.tried) + len(result.plan.skipped) if result.plan else 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="three series; writes nothing")
    parser.add_argument(
        "--budget",
        type=float,
        default=60.0,
        help="search seconds per series, estimated at the reference speed (60 plans every "
        "configuration of every series at 40 epochs)",
    )
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--only", default="", help="series whose name holds one of these words")
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.perf_counter()
    series = load_series()
    if args.quick:
        series = [series[0], series[3], series[-2]]
    if args.only:
        series = [s for s in series if any(w in s.name for w in args.only.split(","))]
    rows = []
    for one in series:
        row = evaluate(one, args.budget, args.epochs)
        sc = row["scores"]
        print(
            f"{one.name:<32} ours {sc['ours']['rmse']:10.4g} ({row['chosen']}) "
            f"naive {sc['naive']['rmse']:10.4g} HW {sc['Holt-Winters']['rmse']:10.4g} "
            f"SARIMA {sc['SARIMA']['rmse']:10.4g} cover80 {row['coverage']:.2f} {row['seconds']:.0f} s",
            flush=True,
        )
        rows.append(row)
    body = report(rows, args, time.perf_counter() - started)
    print(body)
    if not args.quick and not args.only:
        write_section("forecast_accuracy", body)


def report(rows: list[dict], args: argparse.Namespace, seconds: float) -> str:
    search = SearchSettings()
    lines = [
        "## Forecast accuracy on real series (issue 18): the job's selection vs naive, "
        "seasonal naive, Holt-Winters, SARIMA",
        "",
        *header_lines(
            f"python benchmarks/forecast_accuracy.py --budget {args.budget:g} --epochs {args.epochs}",
            seconds,
        ),
        f"- statsmodels {_statsmodels_version()}; ours: `run_job` (look_back 12 as the base, "
        f"horizon = hold-out, {args.epochs} epochs, {search.seeds} seeds per configuration, "
        f"{search.origins} rolling origins `ceil(hold-out / 2)` apart inside the training part, "
        f"search budget {args.budget:g} s estimated before the search at the reference speed, "
        "'configs tried' = recurrent configurations it planned / the grid), fitted on the "
        f"training part only. Selection, nested: the recurrent variant is chosen on the earlier "
        "half of the origins, the best baseline (naive, seasonal naive, exponential smoothing) "
        "on all of them; the best baseline stays unless that variant or its mean with the "
        f"baseline beats it by over {MARGIN:.0%} in RMSE and from most of the later origins, "
        "which played no part in choosing the variant. Intervals: conformal, "
        "per horizon step, from the kept forecast's out-of-sample residuals over the backtest "
        "origins and from a calibration fit at a quarter of the training rows, relative to the "
        "forecast on positive series.",
        "- Holt-Winters: statsmodels `ExponentialSmoothing`, additive damped trend, "
        "multiplicative season for positive series (the same model the job offers as a "
        "candidate); SARIMA: `SARIMAX` order (1,1,1), seasonal (0,1,1,s) (none for Nile).",
        "",
        "| series | freq | hold-out | ours RMSE | ours MAPE % | kept | configs tried | naive "
        "| seasonal naive | Holt-Winters | SARIMA | ours / best naive | ours / HW "
        "| 80% coverage | fit s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    naive_ok, hw_ratios, coverages = [], [], []
    for row in rows:
        s, sc = row["series"], row["scores"]
        ours = sc["ours"]["rmse"]
        best_naive = min(sc["naive"]["rmse"], sc.get("seasonal naive", {"rmse": np.inf})["rmse"])
        naive_ok.append(ours <= NAIVE_SLACK * best_naive)
        hw_ratios.append(ours / sc["Holt-Winters"]["rmse"])
        coverages.append(row["coverage"])
        snaive = f"{sc['seasonal naive']['rmse']:.4g}" if "seasonal naive" in sc else "-"
        lines.append(
            f"| {s.name} | {s.frequency} | {s.hold_out} | {ours:.4g} | {sc['ours']['mape']:.2f} "
            f"| {row['chosen']} | {row['tried']}/{row['grid']} "
            f"| {sc['naive']['rmse']:.4g} | {snaive} | {sc['Holt-Winters']['rmse']:.4g} "
            f"| {sc['SARIMA']['rmse']:.4g} | {ours / best_naive:.3f} | {hw_ratios[-1]:.3f} "
            f"| {row['coverage']:.2f} | {row['seconds']:.0f} |"
        )
    geo = float(np.exp(np.mean(np.log(hw_ratios))))
    cover = float(np.mean(coverages))
    verdict = {
        "within 5% of the best naive on every series": all(naive_ok),
        "geometric mean of RMSE ratio vs Holt-Winters <= 1": geo <= HW_RATIO,
        "80% intervals cover 70-90% on average": COVERAGE[0] <= cover <= COVERAGE[1],
    }
    failing = [r["series"].name for r, ok in zip(rows, naive_ok) if not ok]
    lines += [
        "",
        f"- Within 5% of the better of naive and seasonal naive: {sum(naive_ok)}/{len(rows)} series"
        + (f" (not: {', '.join(failing)})" if failing else "")
        + f": **{'PASS' if verdict[next(iter(verdict))] else 'FAIL'}**",
        f"- Geometric mean of RMSE(ours) / RMSE(Holt-Winters): {geo:.3f} (target <= 1): "
        f"**{'PASS' if geo <= HW_RATIO else 'FAIL'}**",
        f"- Mean coverage of the 80% intervals on the hold-outs: {cover:.2f} (target 0.70-0.90): "
        f"**{'PASS' if COVERAGE[0] <= cover <= COVERAGE[1] else 'FAIL'}**",
        *READING,
    ]
    return "\n".join(lines)


def _statsmodels_version() -> str:
    import statsmodels

    return statsmodels.__version__


if __name__ == "__main__":
    main()
