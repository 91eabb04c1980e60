"""Nested selection: choose on the earlier backtest origins, decide on the later ones.

Several recurrent variants are tried (look-back, transform, width). The best of them by
backtest is the one whose errors happened to be lowest on those origins, part skill and
part luck; compared with the best baseline on the same origins, its luck counts as skill,
so the comparison leans toward the recurrent forecast (the winner's curse). On a short
series, a variant that fitted six overlapping origins best could lose to naive on the
hold-out.

So the origins are split in two. The earlier ones (`choose`) pick the recurrent variant.
The later ones (`decide`), which played no part in that choice, compare it with the best
baseline, and the mean of the two, with the rule the search always had: the best baseline
stays unless a challenger's RMSE on those origins is over `MARGIN` lower and lower from
most of them. The variant meets the others on origins it was not chosen on, so its errors
there are an honest estimate of its error.

The best baseline is chosen on every origin. There are three, of fixed form with a
parameter or two each, so picking among them costs little selection bias, while the
earliest origins, with the least history, make a noisy judge of them (on the Danish money
series naive won the three earliest and exponential smoothing every later one). Its scores
on the later origins are then, if anything, flattering, which only makes the recurrent
forecast's case harder.

    >>> split_origins([48, 60, 72, 84, 96, 108])
    ([48, 60, 72], [84, 96, 108])
    >>> split_origins([36, 48, 60, 72, 84])
    ([36, 48, 60], [72, 84])
    >>> split_origins([96])  # too few to split: both stages share the origin
    ([96], [96])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from unrolled.forecasting.selection import BASELINE, RECURRENT, Backtest, combine

TIE = 0.01  # backtest RMSEs within 1% of the best count as equal; the simplest is kept
# A recurrent or combined forecast replaces the best baseline only where it beats it clearly:
# a backtest RMSE this much lower, and a lower RMSE from most of the origins. A few origins
# make a noisy score, and a close call on them is no reason to give up the simpler forecast.
MARGIN = 0.05
RULE = (
    "nested: the recurrent variant is chosen on the earlier backtest origins, the best "
    "baseline on all of them; the best baseline stays unless the variant, or the mean of the "
    f"two, beats it on the later origins (not used to choose the variant) by over {MARGIN:.0%} "
    "in RMSE and from most of those origins"
)


def split_origins(origins: list[int]) -> tuple[list[int], list[int]]:
    """`(choose, decide)`: the earlier origins (the larger half) and the later ones.

    A single origin cannot be split; both stages use it (the caller notes it).
    """
    if len(origins) < 2:
        return list(origins), list(origins)
    cut = len(origins) - len(origins) // 2
    return list(origins[:cut]), list(origins[cut:])


@dataclass
class NestedChoice:
    """The two stages' outcome; every backtest here runs over all the origins."""

    chosen: Backtest | None  # the kept forecast
    best_baseline: Backtest | None  # chosen on every origin
    best_recurrent: Backtest | None  # chosen on the earlier origins, run on the later ones too
    combination: Backtest | None  # their mean ("auto" only)
    finalists: list[Backtest] = field(default_factory=list)  # met on the later origins


def nested_selection(
    baselines: list[Backtest],
    variants: list[Backtest],
    choose: list[int],
    later: list[int],
    model: str,
    run_later: Callable[[Backtest], Backtest],
) -> NestedChoice:
    """Chooses the recurrent variant on `choose` and the best baseline on every origin;
    decides between them on `later`.

    Args:
        baselines: run on every origin.
        variants: run on the `choose` origins at least (pruned ones are left out).
        run_later: `run_later(variant)`, the variant's backtest extended over `later`; called
            for the chosen variant only, so the others need never run there.

    Returns:
        A `NestedChoice`; `chosen` is None where nothing could be kept (`--model lstm` with
        no recurrent candidate).
    """
    best_baseline = _best_on(baselines, sorted(set(choose) | set(later)))
    best_recurrent = _best_on([b for b in variants if not b.pruned], choose)
    if best_recurrent is not None:
        best_recurrent = run_later(best_recurrent)
    finalists = [b for b in (best_baseline, best_recurrent) if b is not None]
    both = None
    if model == "auto" and best_recurrent is not None and best_baseline is not None:
        both = combine([best_recurrent, best_baseline])
        finalists.append(both)
    kept = decide([b.on(later) for b in finalists], model)
    chosen = next(
        (b for b in finalists if kept is not None and b.candidate is kept.candidate), None
    )
    return NestedChoice(chosen, best_baseline, best_recurrent, both, finalists)


def _best_on(backtests: list[Backtest], origins: list[int]) -> Backtest | None:
    """The backtest in `backtests` that `simplest_best` keeps over `origins` (run on each)."""
    restricted = [b.on(origins) for b in backtests]
    best = simplest_best(restricted)
    return next((b for b, r in zip(backtests, restricted) if r is best), None)


def decide(finalists: list[Backtest], model: str) -> Backtest | None:
    """The kept forecast among `finalists`, each backtested on the same (later) origins.

    With `model` "auto": the best baseline, unless a recurrent or combined forecast beats
    it clearly (`clearly_better`); else (`--model lstm`/`gru`) the best recurrent one.
    """
    complete = [b for b in finalists if not b.pruned]
    if model != "auto":
        return simplest_best([b for b in complete if b.candidate.kind == RECURRENT])
    baseline = simplest_best([b for b in complete if b.candidate.kind == BASELINE])
    challengers = [b for b in complete if b.candidate.kind != BASELINE]
    if baseline is None:
        return simplest_best(challengers)
    return simplest_best([b for b in challengers if clearly_better(b, baseline)]) or baseline


def clearly_better(challenger: Backtest, baseline: Backtest) -> bool:
    """A backtest RMSE MARGIN lower than the baseline's, and lower from most origins."""
    if not rmse(challenger) < (1 - MARGIN) * rmse(baseline):
        return False
    wins = challenger.origin_rmse() < baseline.origin_rmse()
    return 2 * int(wins.sum()) > len(wins)


def simplest_best(backtests: list[Backtest]) -> Backtest | None:
    """The first (simplest: baselines, then the given configuration) within TIE of the best.

    Backtest RMSEs a hair apart are noise; on a random walk, exponential smoothing with a
    smoothing level near 1 ties the naive forecast, and the naive forecast should be kept.
    """
    if not backtests:
        return None
    best = min(rmse(b) for b in backtests)
    return next(b for b in backtests if rmse(b) <= (1 + TIE) * best)


def rmse(backtest: Backtest) -> float:
    """The backtest's RMSE, infinite where it could not be computed."""
    value = backtest.errors["rmse"]
    return value if np.isfinite(value) else float("inf")
