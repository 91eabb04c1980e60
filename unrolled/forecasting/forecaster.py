"""`Forecaster`: windows, an LSTM and a rollout around one series, saved as a folder.

The main job of the command line, usable from Python too:

    >>> from unrolled.datasets import airline_passengers
    >>> forecaster = Forecaster(look_back=24, horizon=12, epochs=5)
    >>> history = forecaster.fit(airline_passengers().values)
    >>> forecaster.forecast(24).shape
    (24, 1)
"""

from __future__ import annotations

import json
import math
import numbers
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from unrolled.data.series import as_series
from unrolled.data.windowing import windows
from unrolled.errors import ConfigError, ShapeError, positive_int
from unrolled.files import write_bytes
from unrolled.forecasting.transforms import SeriesTransform
from unrolled.models import topologies
from unrolled.models.model_files import load_model
from unrolled.models.rollout import forecast
from unrolled.training.optimizers import Adam
from unrolled.utils import set_random_seed

TOPOLOGIES = ("many_to_one", "seq2seq")
SETTINGS_FILE, MODEL_FILE = "forecaster.json", "model.unrolled"
FORMAT_VERSION = 1


@dataclass
class ForecastSettings:
    """How the forecaster windows, builds and trains (the CLI's options)."""

    look_back: int = 24
    horizon: int = 12
    topology: str = "many_to_one"
    cell: str = "lstm"
    units: list[int] = field(default_factory=lambda: [32])
    epochs: int = 100
    batch_size: int = 16
    learning_rate: float = 0.01
    transform: str = "auto"
    seed: int = 0
    ensemble: int = 1  # models trained with seeds seed, seed + 1, ...; the forecast is their mean

    def __post_init__(self) -> None:
        self.look_back = positive_int(self.look_back, "look_back")
        self.horizon = positive_int(self.horizon, "horizon")
        self.epochs = positive_int(self.epochs, "epochs")
        self.batch_size = positive_int(self.batch_size, "batch_size")
        self.ensemble = positive_int(self.ensemble, "ensemble")
        rate = self.learning_rate
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0 < rate < math.inf:
            raise ConfigError(
                f"`learning_rate` must be a positive number, e.g. 0.01. Received: learning_rate={rate!r}"
            )
        sizes = [self.units] if isinstance(self.units, int) else self.units
        if not isinstance(sizes, (list, tuple)) or not sizes:
            raise ConfigError(
                "`units` must be a layer size or a non-empty list of them, e.g. [32]. "
                f"Received: units={self.units!r}"
            )
        self.units = [positive_int(u, "units") for u in sizes]
        if self.topology not in TOPOLOGIES:
            raise ConfigError(
                f"`topology` must be one of {', '.join(TOPOLOGIES)}; received {self.topology!r}."
            )
        topologies._cell_class(self.cell)  # raises for an unknown cell name
        SeriesTransform(self.transform)  # raises for an unknown transform


class Forecaster:
    """Fits a recurrent model to a series' changes and forecasts its future levels.

    Args:
        settings: a `ForecastSettings`, or its fields as keyword arguments.
    """

    def __init__(self, settings: ForecastSettings | None = None, **options: Any) -> None:
        self.settings = settings or ForecastSettings(**options)
        self.transform = SeriesTransform(self.settings.transform)
        self.model: Any = None  # the first member (seed `settings.seed`)
        self.members: list[Any] = []
        self.columns: list[str] = []
        self.tail: np.ndarray | None = None  # the last known levels, to forecast from
        self.losses: list[float] = []

    @property
    def needed_rows(self) -> int:
        """The fewest rows `fit` accepts: one window and its horizon (plus the differenced step)."""
        return self.settings.look_back + self.settings.horizon + 1

    def fit(
        self, levels: Any, columns: list[str] | None = None, verbose: int = 0, callbacks: Any = None
    ) -> Any:
        """Trains on `levels (timesteps,)` or `(timesteps, features)`; returns the first member's `History`.

        `callbacks` is a list of Keras callbacks for every member, or `callbacks(member)`
        returning that list for member 0, 1, ... of the ensemble.
        """
        levels = as_series(levels, "levels").astype(np.float64)
        if len(levels) < self.needed_rows:
            raise ShapeError(
                f"`levels` has {len(levels)} steps; look_back={self.settings.look_back} and "
                f"horizon={self.settings.horizon} need at least {self.needed_rows}."
            )
        s = self.settings
        self.columns = columns or [f"x{i}" for i in range(levels.shape[1])]
        changes = self.transform.fit(levels).forward(levels)  # (T - 1, F)
        x, y = windows(changes, s.look_back, horizon=s.horizon)
        features = levels.shape[1]
        if s.topology == "seq2seq":
            y = y.reshape(len(y), s.horizon, features)  # (samples, horizon, features)
        self.members, histories = [], []
        for member in range(s.ensemble):
            set_random_seed(s.seed + member)
            if s.topology == "seq2seq":
                model = topologies.Seq2Seq(
                    s.look_back,
                    s.horizon,
                    features,
                    features,
                    units=s.units,
                    cell=s.cell,
                    start="last",
                )
            else:
                model = topologies.many_to_one(
                    s.look_back, features, outputs=s.horizon * features, units=s.units, cell=s.cell
                )
            model.compile(Adam(s.learning_rate), "mse")
            histories.append(
                model.fit(
                    x,
                    y,
                    epochs=s.epochs,
                    batch_size=s.batch_size,
                    shuffle=True,
                    verbose=verbose,
                    callbacks=callbacks(member) if callable(callbacks) else callbacks,
                )
            )
            self.members.append(model)
        self.model, history = self.members[0], histories[0]
        self.losses = [float(v) for v in history.history["loss"]]
        self.tail = levels[-(s.look_back + 1) :].copy()
        return history

    def forecast(self, steps: int, history: Any = None) -> np.ndarray:
        """The `steps` levels after `history` (default: the end of the training data), `(steps, features)`."""
        if self.model is None:
            raise ConfigError(
                "The forecaster is not fitted; call fit(series) first (or load a fitted one)."
            )
        levels = self.tail if history is None else as_series(history, "history").astype(np.float64)
        needed = self.settings.look_back + 1
        if len(levels) < needed:
            raise ShapeError(
                f"history has {len(levels)} steps; look_back={self.settings.look_back} needs at least {needed}."
            )
        if levels.shape[1] != len(self.columns):
            raise ShapeError(
                f"history has {levels.shape[1]} column(s); the forecaster was fitted on {len(self.columns)}: {', '.join(self.columns)}."
            )
        window = self.transform.forward(levels)  # (timesteps - lost_steps, F)
        paths = [
            self.transform.inverse(forecast(model, window, steps).reshape(steps, -1), levels[-1])
            for model in self.members
        ]  # each (steps, F)
        return np.mean(paths, axis=0)

    def save(self, folder: str | os.PathLike[str]) -> None:
        """Writes `forecaster.json` (settings, columns, transform, last levels) and the model file."""
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        for member, model in enumerate(self.members):
            model.save(path / member_file(member))
        state = {
            "format_version": FORMAT_VERSION,
            "settings": asdict(self.settings),
            "columns": self.columns,
            "transform": self.transform.get_state(),
            "tail": np.asarray(self.tail, dtype=np.float64).tolist(),
            "losses": self.losses,
        }
        write_bytes(path / SETTINGS_FILE, json.dumps(state, indent=2).encode())

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> Forecaster:
        """Reads a folder written by `save` (no code is executed)."""
        path = Path(folder)
        if not (path / SETTINGS_FILE).is_file() or not (path / MODEL_FILE).is_file():
            raise ConfigError(
                f"{os.fspath(folder)} is not a forecaster folder: expected {SETTINGS_FILE} and {MODEL_FILE} in it."
            )
        try:
            state = json.loads((path / SETTINGS_FILE).read_text())
            if int(state.get("format_version", 0)) > FORMAT_VERSION:
                raise ConfigError(
                    f"{path / SETTINGS_FILE} was written by a newer unrolled (format {state['format_version']}); upgrade unrolled."
                )
            known = {f.name for f in fields(ForecastSettings)}
            forecaster = cls(
                ForecastSettings(**{k: v for k, v in state["settings"].items() if k in known})
            )
            forecaster.columns = list(state["columns"])
            forecaster.transform = SeriesTransform.from_state(state["transform"])
            forecaster.tail = np.asarray(state["tail"], dtype=np.float64)
            forecaster.losses = list(state.get("losses", []))
        except (ValueError, KeyError, TypeError) as error:
            raise ConfigError(f"{path / SETTINGS_FILE} is damaged: {error}.") from None
        forecaster.members = [
            load_model(path / member_file(m)) for m in range(forecaster.settings.ensemble)
        ]
        forecaster.model = forecaster.members[0]
        return forecaster


def member_file(member: int) -> str:
    """The ensemble member's model file: `model.unrolled`, then `model-1.unrolled`, ..."""
    return MODEL_FILE if member == 0 else MODEL_FILE.replace(".", f"-{member}.", 1)
