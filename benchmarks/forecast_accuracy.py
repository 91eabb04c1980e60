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
    "(their backtests prefer the trend by far). Intervals calibrated back to the 1970s and "
    "relative to the level cover 38-75% of those points (12% in a run with absolute "
    "residuals from 1983 on).",
    "- The search budget is wall-clock seconds, so on a loaded machine fewer recurrent "
    "variants are tried ('budget hit'), and which are tried changes the choice: on Nile, a "
    "run that tried only the first configuration kept exponential smoothing (148, within "
    "the target); a run that also tried transform=none kept that LSTM, which beat "
    "exponential smoothing by over 5% at most of the six backtest origins and lost on the "
    "hold-out (186 vs naive 153). Choosing the best of several variants on six overlapping "
    "origins of a 90-year series still overrates the winner.",
    "- Against the run before this change (3 origins, the lowest backtest RMSE kept, "
    "residuals from the last three horizons, 100 epochs): El Nino now keeps seasonal naive, where an "
    "LSTM had won a 3-origin backtest and lost the hold-out (1.69); CPI keeps exponential "
    "smoothing (4.14, was an LSTM at 7.32); the naive target went from 5/11 to 7/11 and "
    "coverage from 0.58 to 0.75; airline keeps the mean of the LSTM and exponential "
    "smoothing (26.0, where the LSTM alone scored 16.8 in that run): the price of the "
    "stricter, steadier choice on the series where the LSTM was right.",
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
        "skipped": any("budget" in n for n in result.notes),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="three series; writes nothing")
    parser.add_argument("--budget", type=float, default=20.0, help="search seconds per series")
    parser.add_argument("--epochs", type=int, default=100)
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
        f"search budget {args.budget:g} s), fitted on the training part only. Selection: the "
        "best baseline (naive, seasonal naive, exponential smoothing) unless a recurrent "
        f"configuration or the mean of the best recurrent one and the best baseline beats it "
        f"by over {MARGIN:.0%} in backtest RMSE and from most origins. Intervals: conformal, "
        "per horizon step, from the kept forecast's out-of-sample residuals over the backtest "
        "origins and from a calibration fit at a quarter of the training rows, relative to the "
        "forecast on positive series.",
        "- Holt-Winters: statsmodels `ExponentialSmoothing`, additive damped trend, "
        "multiplicative season for positive series (the same model the job offers as a "
        "candidate); SARIMA: `SARIMAX` order (1,1,1), seasonal (0,1,1,s) (none for Nile).",
        "",
        "| series | freq | hold-out | ours RMSE | ours MAPE % | kept | naive | seasonal naive "
        "| Holt-Winters | SARIMA | ours / best naive | ours / HW | 80% coverage | fit s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
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
            f"| {row['chosen']}{' (budget hit)' if row['skipped'] else ''} "
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
