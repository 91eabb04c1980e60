"""The main job: choose a forecast by backtest, score it on the last steps, refit, forecast ahead.

`run_job` is what `unrolled demo` and `unrolled fit` do; it returns a `JobResult` and
the CLI writes it out with `report.write_report`. The search and its nested selection (the
recurrent variant chosen on the earlier backtest origins, compared with the best baseline,
chosen on all of them, on the later ones) are `search.run_search` and `decision`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from unrolled.errors import ShapeError, positive_int
from unrolled.forecasting.baselines import errors, naive, seasonal_naive
from unrolled.forecasting.budget import SearchPlan
from unrolled.forecasting.dates import continue_labels
from unrolled.forecasting.decision import MARGIN
from unrolled.forecasting.forecaster import Forecaster, ForecastSettings
from unrolled.forecasting.intervals import coverage, half_widths
from unrolled.forecasting.search import MODELS, SearchOutcome, SearchSettings, run_search
from unrolled.forecasting.selection import (
    BASELINE,
    COMBINATION,
    RECURRENT,
    Backtest,
    Candidate,
    Predictor,
    recurrent_name,
)
from unrolled.forecasting.table import Table

__all__ = ["MARGIN", "MODELS", "JobResult", "SearchSettings", "run_job"]

# The conformal intervals' residuals come from the backtest's origins and, before them, from
# a fit at a calibration origin this share of the training rows from its start (at most
# CALIBRATION_ROWS rows before the first origin): more residuals, from calmer and rougher years.
# On a positive series they are relative to the forecast, as its errors grow with its level.
CALIBRATION_SHARE, CALIBRATION_ROWS = 0.25, 240


@dataclass
class CandidateScore:
    """One candidate of the search: its backtest errors on both stages, and whether it was kept.

    `rmse`, `mae` and `mape` are over the earlier (choosing) origins, which every candidate
    ran; `decide_rmse` over the later (deciding) origins, for the candidates that ran them
    (the baselines, the chosen recurrent variant and the mean; None for the other variants).
    """

    name: str
    kind: str  # "recurrent", "baseline" or "combination"
    rmse: float
    mae: float
    mape: float
    chosen: bool
    seconds: float
    settings: dict[str, Any] | None = None  # recurrent candidates
    pruned: bool = False  # stopped after the first origins (errors over those only)
    decide_rmse: float | None = None
    finalist: bool = False  # one of the forecasts compared on the later origins


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
    search_seconds: float = 0.0  # measured, reported only: nothing is decided on it
    choose_origins: list[int] = field(default_factory=list)  # chose the variant and baseline
    decide_origins: list[int] = field(default_factory=list)  # decided between them
    plan: SearchPlan | None = None  # the recurrent configurations tried and skipped

    @property
    def verdict(self) -> str:
        """One sentence on what was kept (the CLI prints it, metrics.json holds it)."""
        if self.winner_is_baseline:
            return (
                f"A baseline won: {self.chosen} had the best backtest of the baselines, so the "
                f"forecast is {self.chosen}'s; neither the best recurrent configuration nor its "
                f"mean with {self.chosen} beat it clearly (by {MARGIN:.0%} in RMSE and from most "
                "origins) on the later backtest origins, which played no part in choosing them."
            )
        if self.model != "auto":
            return f"Kept {self.chosen}: the best {self.model.upper()} configuration (--model {self.model})."
        if any(c.kind == BASELINE for c in self.candidates):
            return (
                f"Kept {self.chosen}: of {len(self.candidates)} candidates, it beat the best "
                f"baseline clearly (by over {MARGIN:.0%} in RMSE, and from most origins) on the "
                "later backtest origins, which played no part in choosing the recurrent variant."
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
    # Each origin forecasts the longest horizon asked for (the held-out steps or the future).
    outcome = run_search(
        table, train, base, season, search, max(test_steps, future_steps), notes, callbacks
    )
    search_seconds = time.perf_counter() - started
    backtests, chosen_test, best_recurrent = (
        outcome.backtests,
        outcome.chosen,
        outcome.best_recurrent,
    )
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
        candidates=[_score(b, b is chosen_test, outcome) for b in backtests],
        backtests=backtests,
        notes=notes,
        search_seconds=search_seconds,
        choose_origins=outcome.choose,
        decide_origins=outcome.decide,
        plan=outcome.plan,
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


def _score(backtest: Backtest, chosen: bool, outcome: SearchOutcome) -> CandidateScore:
    """The candidate's row of the selection table: errors on the choosing origins it ran,
    RMSE on the deciding ones where it ran them."""
    ran = backtest.on([o for o in backtest.origins if o in outcome.choose]).errors
    decided = all(o in backtest.origins for o in outcome.decide) and outcome.decide
    settings = backtest.candidate.settings
    return CandidateScore(
        backtest.candidate.name,
        backtest.candidate.kind,
        ran["rmse"],
        ran["mae"],
        ran["mape"],
        chosen,
        round(backtest.seconds, 3),
        asdict(settings) if settings else None,
        backtest.pruned,
        backtest.on(outcome.decide).errors["rmse"] if decided else None,
        any(backtest is f for f in outcome.finalists),
    )


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


def future_dates(dates: list[str] | None, steps: int) -> list[str] | None:
    """The next `steps` dates after regular dates (daily to yearly, see `dates`), else None."""
    return continue_labels(dates, steps)
