"""The validation curve of the backtest fit: training loss and held-out loss per epoch.

The backtest model trains on all rows but the held-out ones. `EpochSnapshots` keeps its
weights after each epoch (small models: kilobytes each); once the job has chosen its
transform, `validation_curve` scores every snapshot on the held-out windows, in the same
units as the training loss (mean squared error of standardized changes).

    >>> snapshots = EpochSnapshots()  # doctest: +SKIP
    >>> run_job(table, settings, callbacks=lambda stage: [snapshots])  # doctest: +SKIP
    >>> validation_curve(snapshots, table, result.settings, result.test_steps)  # doctest: +SKIP
    {'loss': [...], 'val_loss': [...]}
"""

from __future__ import annotations

from typing import Any

import numpy as np

from unrolled.data.windowing import windows
from unrolled.forecasting.transforms import SeriesTransform
from unrolled.training.callbacks import Callback


class EpochSnapshots(Callback):
    """Records the first training run it is given: its loss and weights after every epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.losses: list[float] = []
        self.weights: list[list[np.ndarray]] = []
        self.keras_model: Any = None
        self._done = False

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._recording = not self._done and self.keras_model is None
        if self._recording:
            self.keras_model = self.model

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self._recording:
            self.losses.append(float((logs or {}).get("loss", np.nan)))
            self.weights.append([np.array(w, copy=True) for w in self.model.get_weights()])

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._recording:
            self._done = True


def validation_curve(
    snapshots: EpochSnapshots, levels: np.ndarray, settings: Any, test_steps: int
) -> dict[str, list[float]] | None:
    """`{"loss": [...], "val_loss": [...]}` per epoch, or None when nothing can be scored.

    Args:
        snapshots: what the backtest fit recorded.
        levels: every row of the data `(timesteps, features)`; the last `test_steps` are held out.
        settings: the `ForecastSettings` of the model that was recorded.
    """
    model = snapshots.keras_model
    if model is None or not snapshots.weights or test_steps < settings.horizon:
        return None
    levels = np.asarray(levels, dtype=np.float64)
    train = levels[:-test_steps]
    try:
        transform = SeriesTransform(settings.transform).fit(train)
    except ValueError:
        return None
    context = settings.look_back + transform.lost_steps
    changes = transform.forward(levels[-(test_steps + context) :])  # (test + look_back, F)
    x, y = windows(changes, settings.look_back, horizon=settings.horizon)
    x = np.ascontiguousarray(x, dtype=np.float32)
    y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)  # (samples, horizon * F)
    if x.shape[0] == 0 or getattr(model, "input_shape", None) is None:
        return None
    final = model.get_weights()
    val = []
    try:
        for weights in snapshots.weights:
            model.set_weights(weights)
            predicted = np.asarray(model.predict(x, verbose=0), dtype=np.float64)
            val.append(float(np.mean((predicted.reshape(len(y), -1) - y) ** 2)))
    except (ValueError, TypeError):  # a model this curve does not know how to feed
        return None
    finally:
        model.set_weights(final)
    return {"loss": list(snapshots.losses), "val_loss": val}
