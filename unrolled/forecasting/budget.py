"""Which recurrent configurations the search tries: planned from `--budget` before it starts.

A budget read off the wall clock makes the choice depend on the machine's load: on a busy
machine fewer variants would be tried, and a different one kept. So the budget is spent
on estimates, never on measured time. Each configuration's cost is estimated from what
decides it (epochs, training windows at each origin, look-back, the cell's weights, the
seeds) at a fixed reference speed; the grid is walked in its fixed order and a
configuration is planned where its estimate still fits what is left (the first one always
is). The same data, seed and arguments therefore try the same configurations on any
machine, and the search reports the estimate next to the time it really took.

The reference speed is one thread of the 2-core AMD EPYC the constants were measured on
(2026), training through the compiled (numba) epoch kernel; configurations that train on
the step loop (stacked layers, seq2seq) cost `STEP_LOOP_FACTOR` times more.

    >>> from unrolled.forecasting.forecaster import ForecastSettings
    >>> small = ForecastSettings(look_back=12, horizon=12, units=[32], epochs=40, ensemble=3)
    >>> round(fit_seconds(small, rows=120, features=1), 2)
    0.94
"""

from __future__ import annotations

from dataclasses import dataclass, field

from unrolled.forecasting.forecaster import ForecastSettings

STEP_SECONDS = 2e-6  # per epoch, window and timestep, whatever the cell's size
WEIGHT_STEP_SECONDS = 1e-9  # per recurrent weight, epoch, window and timestep
FIT_SECONDS = 0.02  # per model trained: building, compiling, the rollout
STEP_LOOP_FACTOR = 25.0  # the reference step loop against the compiled epoch kernel
GATES = {"lstm": 4, "gru": 3, "simplernn": 1}


def fit_seconds(settings: ForecastSettings, rows: int, features: int) -> float:
    """The estimated seconds to train `settings` (every seed) on `rows` rows, at the reference speed."""
    s = settings
    windows = max(1, rows - s.look_back - s.horizon)
    weights, inputs = 0, features
    for units in s.units:
        weights += GATES.get(s.cell, 4) * units * (inputs + units + 1)
        inputs = units
    per_step = STEP_SECONDS + WEIGHT_STEP_SECONDS * weights
    compiled = len(s.units) == 1 and s.topology == "many_to_one"
    factor = 1.0 if compiled else STEP_LOOP_FACTOR
    return s.ensemble * (FIT_SECONDS + s.epochs * windows * s.look_back * per_step * factor)


@dataclass
class SearchPlan:
    """The configurations to try, those left out, and the estimate behind the choice."""

    budget: float  # seconds at the reference speed
    tried: list[ForecastSettings] = field(default_factory=list)  # in the grid's order
    skipped: list[ForecastSettings] = field(default_factory=list)
    estimated_seconds: float = 0.0  # of the tried ones, the deciding origins' fits included


def plan_search(
    grid: list[ForecastSettings],
    choose: list[int],
    decide: list[int],
    features: int,
    budget: float,
) -> SearchPlan:
    """Walks `grid` in order, planning each configuration whose estimate fits the budget.

    Every configuration is fitted at each origin of `choose` (on the rows before it); the
    one chosen is fitted at each later origin of `decide` too, so the plan keeps room for
    the dearest of those runs. The first configuration is always planned.

    Args:
        choose, decide: the backtest origins (row counts) of the two stages.
    """
    later = [o for o in decide if o not in choose]
    plan = SearchPlan(budget)
    choosing, deciding = 0.0, 0.0
    for s in grid:
        cost = sum(fit_seconds(s, rows, features) for rows in choose)
        then = max(deciding, sum(fit_seconds(s, rows, features) for rows in later))
        if plan.tried and choosing + cost + then > budget:
            plan.skipped.append(s)
            continue
        plan.tried.append(s)
        choosing, deciding = choosing + cost, then
    plan.estimated_seconds = choosing + deciding
    return plan
