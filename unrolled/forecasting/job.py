"""The main job: choose a forecast by backtest, score it on the last steps, refit, forecast ahead.

`run_job` is what `unrolled demo` and `unrolled fit` do; it returns a `JobResult` and
the CLI writes it out with `report.write_report`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from unrolled.errors import ConfigError, ShapeError, positive_int
from unrolled.forecasting.baselines import errors, naive, seasonal_naive, statsmodels_missing
from unrolled.forecasting.dates import continue_labels
from unrolled.forecasting.forecaster import Forecaster, ForecastSettings
from unrolled.forecasting.intervals import coverage, half_widths, parse_levels
from unrolled.forecasting.selection import (
    BASELINE,
    COMBINATION,
    RECURRENT,
    Backtest,
    Candidate,
    Predictor,
    combine,
    recurrent_grid,
    recurrent_name,
    rolling_origins,
    run_backtest,
)
from unrolled.forecasting.table import Table

MODELS = ("auto", "lstm", "gru")
TIE = 0.01  # backtest RMSEs within 1% of the best count as equal; the simplest is kept
# A recurrent or combined forecast replaces the best baseline only where it beats it clearly:
# a backtest RMSE this much lower, and a lower RMSE from most of the origins. A few origins
# make a noisy score, and a close call on them is no reason to give up the simpler forecast.
MARGIN = 0.05
# The conformal intervals' residuals come from the backtest's origins and, before them, from
# a fit at a calibration origin this share of the training rows from its start (at most
# CALIBRATION_ROWS rows before the first origin): more residuals, from calmer and rougher years.
# On a positive series they are relative to the forecast, as its errors grow with its level.
CALIBRATION_SHARE, CALIBRATION_ROWS = 0.25, 240
PRUNE_RATIO = 1.25  # a recurrent candidate this much worse than the best after an origin stops


@dataclass(frozen=True)
class SearchSettings:
    """How `run_job` chooses its forecast (the CLI's --model, --budget, --interval).

    Args:
        model: "auto" keeps the best candidate by backtest RMSE, baselines included;
            "lstm" or "gru" keeps the best recurrent configuration of that cell.
        budget: seconds for the whole search; recurrent candidates that would start past it
            are skipped (and the skip is reported). The first one always runs.
        intervals: prediction-interval levels in percent.
        origins: rolling origins of the backtest (`ceil(horizon / 2)` apart).
        seeds: models per recurrent candidate (seeds `seed`, `seed + 1`, ...); their mean is
            the forecast.
        grid: try the variants of `recurrent_grid`, not only the given configuration.
    """

    model: str = "auto"
    budget: float = 120.0
    intervals: tuple[float, ...] = (80.0, 95.0)
    origins: int = 6
    seeds: int = 3
    grid: bool = True

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ConfigError(
                f"`model` must be one of {', '.join(MODELS)}; received {self.model!r}."
            )
        if not self.budget > 0:
            raise ConfigError(
                f"`budget` must be a positive number of seconds; received {self.budget!r}."
            )
        object.__setattr__(self, "intervals", tuple(parse_levels(self.intervals)))
        positive_int(self.origins, "origins")
        positive_int(self.seeds, "seeds")


@dataclass
class CandidateScore:
    """One candidate of the search: its backtest errors, and whether it was kept."""

    name: str
    kind: str  # "recurrent" or "baseline"
    rmse: float
    mae: float
    mape: float
    chosen: bool
    seconds: float
    settings: dict[str, Any] | None = None  # recurrent candidates
    pruned: bool = False  # stopped after the first origins (errors over those only)


@dataclass
class JobResult:
    """Everything the report shows."""

    table: Table
    settings: ForecastSettings  # of `forecaster`
    test_steps: int
    season: int | None
    backtest: np.ndarray  # (test_steps,) the chosen forecast of the held-out steps
    baselines: dict[str, np.ndarray]  # name -> (test_steps,)
    metrics: dict[str, dict[str, float]]  # name -> {"rmse", "mae", "mape"}; "model": the chosen
    future: np.ndarray  # (future_steps,) the target column after the data, chosen forecast
    future_dates: list[str] | None
    forecaster: Forecaster  # the best recurrent candidate, refitted on all the data
    backtest_losses: list[float]
    chosen: str = "model"  # the name of the kept candidate
    winner_is_baseline: bool = False
    chosen_kind: str = RECURRENT  # "recurrent", "baseline" or "combination"
    # The kept forecast as fitted for `future` (what forecast.csv holds), and what it read.
    winner: Predictor | None = None
    winner_candidate: Candidate | None = None
    model: str = "auto"  # SearchSettings.model: "lstm" or "gru" made only those eligible
    candidates: list[CandidateScore] = field(default_factory=list)
    backtests: list[Backtest] = field(default_factory=list)  # rolling-origin, inside training
    # level (percent) -> (lower, upper), each (future_steps,) / (test_steps,) for the held-out steps
    intervals: dict[float, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    backtest_intervals: dict[float, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    coverage: dict[float, float] = field(default_factory=dict)  # level -> share of held-out steps
    notes: list[str] = field(default_factory=list)  # what the search skipped or decided, and why
    search_seconds: float = 0.0

    @property
    def verdict(self) -> str:
        """One sentence on what was kept (the CLI prints it, metrics.json holds it)."""
        if self.winner_is_baseline:
            return (
                f"A baseline won: {self.chosen} had the best backtest, so the forecast is "
                f"{self.chosen}'s; no recurrent configuration beat it clearly (by {MARGIN:.0%} "
                "in RMSE and from most origins) on this series."
            )
        if self.model != "auto":
            return f"Kept {self.chosen}: the best {self.model.upper()} configuration (--model {self.model})."
        if any(c.kind == BASELINE for c in self.candidates):
            return (
                f"Kept {self.chosen}: of {len(self.candidates)} candidates, it beat the best "
                f"baseline clearly in the backtest (by over {MARGIN:.0%} in RMSE, and from most "
                "origins)."
            )
        return f"Kept {self.chosen}: the best backtest of {len(self.candidates)} candidates."

    @property
    def produced_by(self) -> str:
        """Which forecaster wrote forecast.csv, and what model/ holds, in one sentence."""
        if self.chosen_kind == RECURRENT:
            return f"forecast.csv holds the forecast of {self.chosen}, the model saved in model/."
        return (
            f"forecast.csv holds the forecast of {self.chosen}; `unrolled forecast` on this "
            f"folder forecasts with it too. model/ holds the best recurrent candidate "
            f"({recurrent_name(self.settings)}) for `unrolled explain`"
            + (", and the recurrent half of the mean." if self.chosen_kind == COMBINATION else ".")
        )


def run_job(
    table: Table,
    settings: ForecastSettings,
    test_steps: int = 24,
    future_steps: int = 24,
    season: int | None = 12,
    refit: bool = True,
    callbacks: Callable[[str], Any] | None = None,
    search: SearchSettings | None = None,
) -> JobResult:
    """Chooses a forecast by rolling-origin backtest, scores it on the last `test_steps`,
    then refits it on everything and forecasts `future_steps`.

    Args:
        callbacks: `callbacks(stage)` returns the Keras callbacks of one training run: stage
            "search i/n: <candidate>, origin k/m, seed s" during the search, "backtest" for the
            held-out steps, "refit" for the final fit (the CLI's progress bars).
        search: what to try, the time budget and the interval levels (`SearchSettings()`).
    """
    search = search or SearchSettings()
    test_steps = positive_int(test_steps, "test_steps")
    future_steps = positive_int(future_steps, "future_steps")
    if season is not None:
        season = positive_int(season, "season")
    values = table.values.astype(np.float64)
    needed = settings.look_back + settings.horizon + 1 + test_steps
    if len(values) < needed:
        raise ShapeError(
            f"The data has {len(values)} rows; look_back={settings.look_back}, horizon={settings.horizon} "
            f"and the last {test_steps} rows held out for testing need at least {needed}. "
            "Lower --look-back, --horizon or --test."
        )

    def stage(name: str) -> Callable[[int], Any] | None:
        # The ensemble's first member keeps the plain stage name ("backtest", "refit").
        if callbacks is None:
            return None
        return lambda member: callbacks(name if member == 0 else f"{name}, seed {member + 1}")

    train, test = values[:-test_steps], values[-test_steps:, 0]
    base = replace(
        settings,
        cell=settings.cell if search.model == "auto" else search.model,
        ensemble=search.seeds,
    )
    notes: list[str] = []
    started = time.perf_counter()
    backtests = _search(
        table, train, base, season, search, test_steps, future_steps, notes, callbacks
    )
    search_seconds = time.perf_counter() - started

    complete = [b for b in backtests if not b.pruned]
    recurrent = [b for b in complete if b.candidate.kind == RECURRENT]
    best_recurrent = _simplest_best(recurrent)
    best_baseline = _simplest_best([b for b in complete if b.candidate.kind == BASELINE])
    if search.model == "auto" and best_recurrent and best_baseline:
        backtests.append(combine([best_recurrent, best_baseline]))
    chosen_test = _select(backtests, search.model)
    if chosen_test is None:  # too short to backtest: the given configuration, unscored
        chosen = Candidate(recurrent_name(base), RECURRENT, base)
    else:
        chosen = chosen_test.candidate
    if search.model != "auto":
        notes.append(
            f"--model {search.model}: only {search.model.upper()} configurations were eligible."
        )

    # The held-out steps: the chosen forecast and every baseline, fitted on the training part.
    evaluator = chosen.fit(train, table.columns, season, stage("backtest"))
    backtest = evaluator.forecast(train, test_steps)
    baselines = {}
    for b in backtests:
        if b.candidate.kind == BASELINE:
            baselines[b.candidate.name] = b.candidate.fit(train, table.columns, season).forecast(
                train, test_steps
            )
    if "naive" not in baselines:  # also where the series was too short to backtest
        baselines["naive"] = naive(train[:, 0], test_steps)
        if season and len(train) >= season:
            baselines["seasonal naive"] = seasonal_naive(train[:, 0], test_steps, season)
    metrics = {"model": errors(test, backtest)} | {
        name: errors(test, b) for name, b in baselines.items()
    }

    final = chosen.fit(values, table.columns, season, stage("refit")) if refit else evaluator
    future = final.forecast(values, future_steps)
    # model/ holds a recurrent forecaster even where a baseline won (for `explain`); the
    # fit record beside it names the winner, which `unrolled forecast` then uses.
    if chosen.kind == RECURRENT:
        forecaster = final.forecaster  # type: ignore[attr-defined]
        losses = evaluator.forecaster.losses  # type: ignore[attr-defined]
    elif chosen.kind == COMBINATION:
        forecaster = final.parts[0].forecaster  # type: ignore[attr-defined]
        losses = evaluator.parts[0].forecaster.losses  # type: ignore[attr-defined]
    elif best_recurrent is not None and not refit:  # its fit at the last origin will do
        forecaster = best_recurrent.predictors[-1].forecaster  # type: ignore[attr-defined]
        losses = forecaster.losses
    else:
        keep = best_recurrent.candidate if best_recurrent else Candidate("", RECURRENT, base)
        forecaster = Forecaster(keep.settings)
        forecaster.fit(values if refit else train, table.columns, callbacks=stage("refit"))
        losses = forecaster.losses

    result = JobResult(
        table,
        forecaster.settings,
        test_steps,
        season,
        backtest,
        baselines,
        metrics,
        future,
        table.future_dates(future_steps),
        forecaster,
        losses,
        chosen=chosen.name,
        winner_is_baseline=chosen.kind == BASELINE,
        chosen_kind=chosen.kind,
        winner=final,
        winner_candidate=chosen,
        model=search.model,
        candidates=[
            CandidateScore(
                b.candidate.name,
                b.candidate.kind,
                b.errors["rmse"],
                b.errors["mae"],
                b.errors["mape"],
                b.candidate == chosen,
                round(b.seconds, 3),
                asdict(b.candidate.settings) if b.candidate.settings else None,
                b.pruned,
            )
            for b in backtests
        ],
        backtests=backtests,
        notes=notes,
        search_seconds=search_seconds,
    )
    notes.append(result.produced_by)
    if chosen_test is not None and search.intervals:
        calibration = _calibration_fit(chosen_test, train, table.columns, season, stage)
        relative = bool((train[:, 0] > 0).all())
        residuals = chosen_test.residuals(train, calibration, relative)
        _add_intervals(result, residuals, test, search.intervals, relative)
    elif search.intervals:
        notes.append("No prediction intervals: the series is too short for a backtest.")
    return result


def _search(
    table: Table,
    train: np.ndarray,
    base: ForecastSettings,
    season: int | None,
    search: SearchSettings,
    test_steps: int,
    future_steps: int,
    notes: list[str],
    callbacks: Callable[[str], Any] | None,
) -> list[Backtest]:
    """Backtests the baselines, then the recurrent grid until the budget is spent."""
    started = time.perf_counter()
    grid = recurrent_grid(base, season) if search.grid else [base]
    # Each origin forecasts the longest horizon asked for (the held-out steps or the future).
    horizon = max(test_steps, future_steps)
    smallest = min(s.look_back + s.horizon + 1 for s in grid)
    horizon = min(horizon, len(train) - smallest)
    # The origins leave room for the user's own configuration where they can; variants
    # that need more rows than the first origin has are skipped (with a note).
    own = base.look_back + base.horizon + 1
    if horizon < 1:
        notes.append(
            f"No backtest: {len(train)} training rows leave no room for a forecast after "
            f"the {smallest} rows the smallest configuration needs; kept {recurrent_name(base)}."
        )
        return []
    origins = rolling_origins(len(train), horizon, search.origins, first=own)
    if len(origins) < 2:
        origins = rolling_origins(len(train), horizon, search.origins, first=smallest)
    if horizon < max(test_steps, future_steps):
        notes.append(
            f"The backtest forecasts {horizon} steps (the training part is too short for "
            f"{max(test_steps, future_steps)}); interval widths past step {horizon} repeat the last."
        )
    candidates = [Candidate("naive", BASELINE)]
    if season and season > 1 and origins[0] >= season:
        candidates.append(Candidate("seasonal naive", BASELINE))
    missing = statsmodels_missing()
    if missing:
        notes.append(missing + ".")
    elif origins[0] >= 10:
        candidates.append(Candidate("exponential smoothing", BASELINE))
    fits = [s for s in grid if s.look_back + s.horizon + 1 <= origins[0]]
    for s in grid:
        if s not in fits:
            notes.append(
                f"{recurrent_name(s)} skipped: the first backtest origin has {origins[0]} rows, "
                f"it needs {s.look_back + s.horizon + 1}."
            )
    candidates += [Candidate(recurrent_name(s), RECURRENT, s) for s in fits]

    results: list[Backtest] = []
    recurrent_seconds: list[float] = []
    for candidate in candidates:
        if candidate.kind == RECURRENT and recurrent_seconds:
            elapsed = time.perf_counter() - started
            expected = float(np.mean(recurrent_seconds))
            if elapsed + expected > search.budget:
                left = [c.name for c in candidates[candidates.index(candidate) :]]
                notes.append(
                    f"Search budget of {search.budget:g} s reached after {elapsed:.0f} s: "
                    f"skipped {len(left)} recurrent candidate(s): {'; '.join(left)}."
                )
                break
        i = len(recurrent_seconds) + 1
        label = f"search {i}/{len(fits)}: {candidate.name}"
        progress = (
            (
                lambda k, m, label=label: callbacks(
                    f"{label}, origin {k + 1}/{len(origins)}, seed {m + 1}"
                )
            )
            if callbacks and candidate.kind == RECURRENT
            else None
        )
        prune = _pruner(results, search.model) if recurrent_seconds else None
        results.append(
            run_backtest(candidate, train, table.columns, origins, horizon, season, progress, prune)
        )
        if results[-1].pruned:
            notes.append(
                f"{candidate.name} stopped after {len(results[-1].origins)} of {len(origins)} "
                f"origins: its RMSE there was over {PRUNE_RATIO:g} times the best."
            )
        if candidate.kind == RECURRENT:
            recurrent_seconds.append(results[-1].seconds)
    return results


def _add_intervals(
    result: JobResult,
    residuals: list[np.ndarray],
    test: np.ndarray,
    levels: tuple[float, ...],
    relative: bool = False,
) -> None:
    """Bands of half-width `half_widths(residuals)` around the forecasts (times the
    forecast's size where the residuals are `relative`)."""
    steps = max(len(result.future), result.test_steps)
    for level in levels:
        width = half_widths(residuals, level, steps)
        future_width = width[: len(result.future)]
        test_width = width[: result.test_steps]
        if relative:
            future_width = future_width * np.abs(result.future)
            test_width = test_width * np.abs(result.backtest)
        result.intervals[level] = (result.future - future_width, result.future + future_width)
        lower = result.backtest - test_width
        upper = result.backtest + test_width
        result.backtest_intervals[level] = (lower, upper)
        result.coverage[level] = coverage(test, lower, upper)


def _calibration_fit(
    chosen: Backtest,
    train: np.ndarray,
    columns: list[str],
    season: int | None,
    stage: Callable[[str], Any],
) -> tuple[int, Predictor] | None:
    """The kept candidate fitted once more at an origin before the backtest's, or None."""
    first = chosen.origins[0]
    origin = max(
        _rows_needed(chosen.candidate, season),
        int(CALIBRATION_SHARE * len(train)),
        first - CALIBRATION_ROWS,
    )
    if origin >= first:
        return None
    return origin, chosen.candidate.fit(train[:origin], columns, season, stage("calibration"))


def _rows_needed(candidate: Candidate, season: int | None) -> int:
    if candidate.kind == COMBINATION:
        return max(_rows_needed(p, season) for p in candidate.parts)
    if candidate.kind == RECURRENT:
        s = candidate.settings
        return s.look_back + s.horizon + 1  # type: ignore[union-attr]
    if candidate.name == "exponential smoothing":
        return max(10, 2 * season if season else 0)
    return season if candidate.name == "seasonal naive" and season else 1


def _select(backtests: list[Backtest], model: str) -> Backtest | None:
    """The kept backtest: with `model` "auto", the best baseline unless a recurrent or
    combined forecast beats it clearly (`_clearly_better`); else the best recurrent one."""
    complete = [b for b in backtests if not b.pruned]
    if model != "auto":
        return _simplest_best([b for b in complete if b.candidate.kind == RECURRENT])
    baseline = _simplest_best([b for b in complete if b.candidate.kind == BASELINE])
    challengers = [b for b in complete if b.candidate.kind != BASELINE]
    if baseline is None:
        return _simplest_best(challengers)
    return _simplest_best([b for b in challengers if _clearly_better(b, baseline)]) or baseline


def _clearly_better(challenger: Backtest, baseline: Backtest) -> bool:
    """A backtest RMSE MARGIN lower than the baseline's, and lower from most origins."""
    if not _rmse(challenger) < (1 - MARGIN) * _rmse(baseline):
        return False
    wins = challenger.origin_rmse() < baseline.origin_rmse()
    return 2 * int(wins.sum()) > len(wins)


def _pruner(done: list[Backtest], model: str) -> Callable[[int, float], bool]:
    """Stops a recurrent candidate whose RMSE over the first origins is PRUNE_RATIO times the
    best eligible candidate's over the same origins."""
    rivals = [
        b for b in done if not b.pruned and (model == "auto" or b.candidate.kind == RECURRENT)
    ]

    def prune(k: int, rmse: float) -> bool:
        best = min(
            (
                errors(b.actuals[: k + 1].ravel(), b.predictions[: k + 1].ravel())["rmse"]
                for b in rivals
            ),
            default=float("inf"),
        )
        return rmse > PRUNE_RATIO * best

    return prune


def _simplest_best(backtests: list[Backtest]) -> Backtest | None:
    """The first (simplest: baselines, then the given configuration) within TIE of the best.

    Backtest RMSEs a hair apart are noise; on a random walk, exponential smoothing with a
    smoothing level near 1 ties the naive forecast, and the naive forecast should be kept.
    """
    if not backtests:
        return None
    best = min(_rmse(b) for b in backtests)
    return next(b for b in backtests if _rmse(b) <= (1 + TIE) * best)


def _rmse(backtest: Backtest) -> float:
    rmse = backtest.errors["rmse"]
    return rmse if np.isfinite(rmse) else float("inf")


def future_dates(dates: list[str] | None, steps: int) -> list[str] | None:
    """The next `steps` dates after regular dates (daily to yearly, see `dates`), else None."""
    return continue_labels(dates, steps)
