"""Make a series stationary before windowing, and undo it after forecasting.

A recurrent network extrapolates a level it has never seen badly (its units saturate),
so the forecaster models changes instead: `diff` (step-to-step differences) or
`log-diff` (growth rates, for positive series such as passenger counts), then
standardizes each column on the training part.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from unrolled.data.scaling import StandardScaler
from unrolled.errors import ConfigError

KINDS = ("auto", "none", "diff", "log-diff")


class SeriesTransform:
    """Per-column change transform plus standardization; `forward` then `inverse` is exact."""

    def __init__(self, kind: str = "auto") -> None:
        if kind not in KINDS:
            raise ConfigError(f"`transform` must be one of {', '.join(KINDS)}; received {kind!r}.")
        self.kind = kind
        self.kinds: list[str] = []
        self.scaler = StandardScaler()

    def fit(self, levels: np.ndarray) -> SeriesTransform:
        """Chooses each column's transform (`auto`: log-diff if all positive, else diff) and fits the scaler."""
        self.kinds = [
            ("log-diff" if bool((column > 0).all()) else "diff")
            if self.kind == "auto"
            else self.kind
            for column in levels.T
        ]
        for name, column in zip(self.kinds, levels.T):
            if name == "log-diff" and not bool((column > 0).all()):
                raise ConfigError(
                    "transform 'log-diff' needs positive values; a column has values <= 0. Use 'diff'."
                )
        self.scaler.fit(self._changes(levels))
        return self

    @property
    def lost_steps(self) -> int:
        """How many leading steps the transform consumes (1 for differences)."""
        return 0 if all(k == "none" for k in self.kinds) else 1

    def forward(self, levels: np.ndarray) -> np.ndarray:
        """Levels `(T, F)` to standardized changes `(T - lost_steps, F)`."""
        return self.scaler.transform(self._changes(levels)).astype(np.float32)

    def inverse(self, changes: np.ndarray, last_levels: np.ndarray) -> np.ndarray:
        """Standardized changes `(H, F)` after `last_levels (F,)` back to levels `(H, F)`."""
        raw = self.scaler.inverse_transform(np.asarray(changes, dtype=np.float64))
        levels = np.empty_like(raw)
        for c, name in enumerate(self.kinds):
            if name == "none":
                levels[:, c] = raw[:, c]
            elif name == "diff":
                levels[:, c] = last_levels[c] + np.cumsum(raw[:, c])
            else:
                levels[:, c] = np.exp(np.log(last_levels[c]) + np.cumsum(raw[:, c]))
        return levels

    def _changes(self, levels: np.ndarray) -> np.ndarray:
        levels = np.asarray(levels, dtype=np.float64)
        columns = []
        for c, name in enumerate(self.kinds):
            column = levels[:, c]
            if name == "none":
                columns.append(column[self.lost_steps :])
            elif name == "diff":
                columns.append(np.diff(column))
            else:
                columns.append(np.diff(np.log(column)))
        return np.stack(columns, axis=1)

    def get_state(self) -> dict[str, Any]:
        return {"kind": self.kind, "kinds": self.kinds, "scaler": self.scaler.get_state()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> SeriesTransform:
        transform = cls(state["kind"])
        transform.kinds = list(state["kinds"])
        transform.scaler = StandardScaler.from_state(state["scaler"])
        return transform
