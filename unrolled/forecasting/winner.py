"""The forecaster that won a job's selection, as a JSON document beside the saved model.

A report's `model/` folder always holds a recurrent forecaster (the one `unrolled explain`
draws). Where a baseline or the mean of a baseline and the recurrent model won, forecast.csv
holds that winner's forecast, and so must `unrolled forecast` and `unrolled evaluate`: the
document says which forecaster it was, with what a baseline needs to forecast again (the
season, exponential smoothing's fitted parameters, the series it forecast from).

    >>> import numpy as np
    >>> from unrolled.forecasting.selection import BASELINE, Candidate
    >>> document = winner_document(Candidate("naive", BASELINE), None, None, np.array([[1.0], [3.0]]))
    >>> predictor = winner_predictor(document, forecaster=None)
    >>> predictor.forecast(np.array([[2.0], [5.0]]), 2)
    array([5., 5.])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from unrolled.errors import ConfigError
from unrolled.forecasting.baselines import ExponentialSmoothing
from unrolled.forecasting.selection import (
    BASELINE,
    COMBINATION,
    RECURRENT,
    Candidate,
    Mean,
    Predictor,
    _Recurrent,
    _Smoothing,
)

__all__ = ["winner_document", "winner_predictor"]


def winner_document(
    candidate: Candidate, predictor: Any, season: int | None, values: np.ndarray
) -> dict[str, Any]:
    """What `winner_predictor` needs to forecast as `predictor` (fitted `candidate`) did.

    Args:
        values: `(rows, features)` the data the job forecast its future from; kept where
            the winner is not the saved recurrent model alone, as the default history.
    """
    document: dict[str, Any] = {"kind": candidate.kind, "name": candidate.name, "season": season}
    if candidate.kind == RECURRENT:
        return document
    parts = predictor.parts if candidate.kind == COMBINATION else [predictor]
    kinds = candidate.parts if candidate.kind == COMBINATION else (candidate,)
    document["parts"] = [_part(c, p) for c, p in zip(kinds, parts)]
    document["history"] = np.asarray(values, dtype=np.float64).tolist()
    return document


def winner_predictor(document: dict[str, Any] | None, forecaster: Any) -> Predictor | None:
    """The winner as a predictor (`forecast(history (timesteps, features), steps)`), or None
    where it is the saved recurrent `forecaster` itself (or the document is absent).

    Raises:
        ConfigError: the document names a forecaster this version does not know.
    """
    if not document or document.get("kind") == RECURRENT:
        return None
    season = document.get("season")
    parts = [_rebuild(part, season, forecaster) for part in document.get("parts", [])]
    if not parts:
        raise ConfigError(f"The fit record's winner {document.get('name')!r} has no parts.")
    return parts[0] if len(parts) == 1 else Mean(parts)


def winner_history(document: dict[str, Any] | None) -> np.ndarray | None:
    """The data the winner forecast forecast.csv from: `(rows, features)`, or None."""
    if not document or "history" not in document:
        return None
    return np.asarray(document["history"], dtype=np.float64).reshape(len(document["history"]), -1)


def _part(candidate: Candidate, predictor: Any) -> dict[str, Any]:
    part: dict[str, Any] = {"kind": candidate.kind, "name": candidate.name}
    if isinstance(predictor, _Smoothing):
        part["smoothing"] = predictor.model.get_state()
    return part


def _rebuild(part: dict[str, Any], season: int | None, forecaster: Any) -> Predictor:
    kind, name = part.get("kind"), part.get("name")
    if kind == RECURRENT:
        return _Recurrent(forecaster)
    if kind == BASELINE and name == "exponential smoothing" and "smoothing" in part:
        return _Smoothing(ExponentialSmoothing.from_state(part["smoothing"]))
    if kind == BASELINE and name in ("naive", "seasonal naive"):
        return Candidate(name, BASELINE).fit(np.zeros((1, 1)), [], season)
    raise ConfigError(
        f"The fit record names a forecaster this unrolled does not know ({kind} {name!r}): "
        "upgrade unrolled, or refit the model."
    )
