"""The model search of a job: backtest the baselines and the planned recurrent variants,
choose on the earlier origins, decide on the later ones.

1. Rolling origins inside the training part (`selection.rolling_origins`), split into the
   earlier `choose` origins and the later `decide` origins (`decision.split_origins`).
2. The baselines run on every origin (they cost nothing). The recurrent configurations
   that `budget.plan_search` planned run, in the grid's fixed order, on the `choose`
   origins only (a hopeless one stops early, `PRUNE_RATIO`).
3. On the `choose` origins: the best recurrent variant and the best baseline.
4. The chosen variant runs on the `decide` origins too; with the best baseline and their
   mean it meets `decision.decide` there, on origins that played no part in choosing it.

Nothing here reads the clock to decide anything: the seconds measured are reported only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from unrolled.errors import ConfigError, positive_int
from unrolled.forecasting.baselines import errors, statsmodels_missing
from unrolled.forecasting.budget import SearchPlan, plan_search
from unrolled.forecasting.decision import nested_selection, split_origins
from unrolled.forecasting.forecaster import ForecastSettings
from unrolled.forecasting.intervals import parse_levels
from unrolled.forecasting.selection import (
    BASELINE,
    RECURRENT,
    Backtest,
    Candidate,
    recurrent_grid,
    recurrent_name,
    rolling_origins,
    run_backtest,
)
from unrolled.forecasting.table import Table

MODELS = ("auto", "lstm", "gru")
PRUNE_RATIO = 1.25  # a recurrent candidate this much worse than the best after an origin stops


@dataclass(frozen=True)
class SearchSettings:
    """How `run_job` chooses its forecast (the CLI's --model, --budget, --interval).

    Args:
        model: "auto" keeps the best baseline unless the chosen recurrent variant (or its
            mean with the baseline) beats it clearly on the later origins; "lstm" or "gru"
            keeps the best recurrent configuration of that cell.
        budget: seconds for the recurrent fits, estimated before the search at a reference
            speed (`budget.plan_search`): configurations are planned in the grid's order while
            their estimates fit, so the choice never depends on the machine's load. The
            first one always runs.
        intervals: prediction-interval levels in percent.
        origins: rolling origins of the backtest (`ceil(horizon / 2)` apart); the earlier
            half (rounded up) chooses, the later half decides.
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
class SearchOutcome:
    """What the search ran and kept."""

    backtests: list[Backtest] = field(default_factory=list)  # each candidate, origins it ran
    chosen: Backtest | None = None  # the kept forecast, over every origin
    best_recurrent: Backtest | None = None  # the chosen variant, over every origin
    origins: list[int] = field(default_factory=list)
    choose: list[int] = field(default_factory=list)  # the earlier origins
    decide: list[int] = field(default_factory=list)  # the later origins
    finalists: list[Backtest] = field(default_factory=list)  # met on the later origins
    plan: SearchPlan | None = None


def run_search(
    table: Table,
    train: np.ndarray,
    base: ForecastSettings,
    season: int | None,
    search: SearchSettings,
    horizon: int,
    notes: list[str],
    callbacks: Callable[[str], Any] | None = None,
) -> SearchOutcome:
    """Backtests the candidates on `train (rows, features)` and keeps one (see the module).

    Args:
        horizon: the steps each origin forecasts (the longest asked for); shortened, with a
            note, where the training part is too short for it.
        notes: what the search skipped or decided is appended here, in words.
        callbacks: `callbacks(stage)` gives the Keras callbacks of one training run.
    """
    grid = recurrent_grid(base, season) if search.grid else [base]
    wanted = horizon
    smallest = min(s.look_back + s.horizon + 1 for s in grid)
    horizon = min(horizon, len(train) - smallest)
    if horizon < 1:
        notes.append(
            f"No backtest: {len(train)} training rows leave no room for a forecast after "
            f"the {smallest} rows the smallest configuration needs; kept {recurrent_name(base)}."
        )
        return SearchOutcome()
    # The origins leave room for the user's own configuration where they can; variants
    # that need more rows than the first origin has are skipped (with a note).
    own = base.look_back + base.horizon + 1
    origins = rolling_origins(len(train), horizon, search.origins, first=own)
    if len(origins) < 2:
        origins = rolling_origins(len(train), horizon, search.origins, first=smallest)
    if horizon < wanted:
        notes.append(
            f"The backtest forecasts {horizon} steps (the training part is too short for "
            f"{wanted}); interval widths past step {horizon} repeat the last."
        )
    choose, later = split_origins(origins)
    if len(origins) < 2:
        notes.append(
            "One backtest origin only: the recurrent variant was chosen and compared with the "
            "baselines on the same origin, which favours it (two origins make the choice nested)."
        )
    baselines = [Candidate("naive", BASELINE)]
    if season and season > 1 and origins[0] >= season:
        baselines.append(Candidate("seasonal naive", BASELINE))
    missing = statsmodels_missing()
    if missing:
        notes.append(missing + ".")
    elif origins[0] >= 10:
        baselines.append(Candidate("exponential smoothing", BASELINE))
    fits = [s for s in grid if s.look_back + s.horizon + 1 <= origins[0]]
    for s in grid:
        if s not in fits:
            notes.append(
                f"{recurrent_name(s)} skipped: the first backtest origin has {origins[0]} rows, "
                f"it needs {s.look_back + s.horizon + 1}."
            )
    plan = plan_search(fits, choose, later, train.shape[1], search.budget)
    notes.append(_plan_note(plan, len(fits)))

    columns = table.columns
    results = [run_backtest(c, train, columns, origins, horizon, season) for c in baselines]
    for i, s in enumerate(plan.tried):
        candidate = Candidate(recurrent_name(s), RECURRENT, s)
        label = f"search {i + 1}/{len(plan.tried)}: {candidate.name}"
        prune = _pruner(results, search.model) if i else None  # the user's own always completes
        run = run_backtest(
            candidate,
            train,
            columns,
            choose,
            horizon,
            season,
            _progress(callbacks, label, len(choose)),
            prune,
        )
        results.append(run)
        if run.pruned:
            notes.append(
                f"{candidate.name} stopped after {len(run.origins)} of {len(choose)} choosing "
                f"origins: its RMSE there was over {PRUNE_RATIO:g} times the best."
            )

    def run_later(variant: Backtest) -> Backtest:
        # The chosen variant on the later origins it has not run: fits on data it was not
        # chosen on.
        rest = [o for o in later if o not in variant.origins]
        if not rest:
            return variant
        progress = _progress(callbacks, f"decide: {variant.candidate.name}", len(rest))
        more = run_backtest(variant.candidate, train, columns, rest, horizon, season, progress)
        return variant.then(more)

    nested = nested_selection(
        [b for b in results if b.candidate.kind == BASELINE],
        [b for b in results if b.candidate.kind == RECURRENT],
        choose,
        later,
        search.model,
        run_later,
    )
    if nested.best_recurrent is not None:  # now over every origin
        chosen_variant = [b.candidate for b in results].index(nested.best_recurrent.candidate)
        results[chosen_variant] = nested.best_recurrent
    if nested.combination is not None:
        results.append(nested.combination)
    return SearchOutcome(
        results,
        nested.chosen,
        nested.best_recurrent,
        origins,
        choose,
        later,
        nested.finalists,
        plan,
    )


def _plan_note(plan: SearchPlan, grid_size: int) -> str:
    tried = "; ".join(recurrent_name(s) for s in plan.tried) or "none"
    note = (
        f"Recurrent configurations tried, in order: {tried} ({len(plan.tried)} of {grid_size}; "
        f"estimated {plan.estimated_seconds:.0f} s of fits against the {plan.budget:g} s budget "
        "at the reference speed, planned before the search so that the machine's load cannot "
        "change the choice)."
    )
    if plan.skipped:
        note += (
            " Skipped by the budget: " + "; ".join(recurrent_name(s) for s in plan.skipped) + "."
        )
    return note


def _progress(
    callbacks: Callable[[str], Any] | None, label: str, origins: int
) -> Callable[[int, int], Any] | None:
    if callbacks is None:
        return None
    return lambda k, m: callbacks(f"{label}, origin {k + 1}/{origins}, seed {m + 1}")


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
