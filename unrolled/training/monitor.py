"""Callbacks that watch one logged value: EarlyStopping, ModelCheckpoint, ReduceLROnPlateau.

`monitor` names a log key (`"val_loss"`, `"loss"`, `"val_mae"`, ...). With
`mode="auto"`, losses are minimized and metrics follow their direction (accuracy up,
errors down), as in Keras.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np
import torch

from unrolled import files
from unrolled.errors import ConfigError
from unrolled.training.callbacks import (
    Callback,
    Logs,
    get_learning_rate,
    set_learning_rate,
    torch_optimizer,
)


class MonitorCallback(Callback):
    """Keeps the best value of `monitor` and says whether a new one improves on it."""

    def __init__(
        self,
        monitor: str = "val_loss",
        mode: str = "auto",
        baseline: float | None = None,
        min_delta: float = 0.0,
    ) -> None:
        super().__init__()
        if mode not in ("auto", "min", "max"):
            warnings.warn(
                f"{type(self).__name__} mode {mode!r} is unknown, fallback to auto mode.",
                stacklevel=2,
            )
            mode = "auto"
        self.monitor = monitor
        self.mode = mode
        self.best = baseline
        self.min_delta = abs(min_delta)
        self._lower_is_better: bool | None = None

    def _resolve_mode(self) -> None:
        if self._lower_is_better is not None:
            return
        if self.mode != "auto":
            self._lower_is_better = self.mode == "min"
            return
        name = self.monitor.removeprefix("val_")
        if name == "loss" or name.endswith("_loss"):
            self._lower_is_better = True
            return
        direction = getattr(self.trainer, "metric_direction", lambda _: None)(name)
        if direction is not None:
            self._lower_is_better = direction == "down"
            return
        raise ConfigError(
            f"{type(self).__name__} received monitor={self.monitor!r}, but cannot tell whether it "
            "should be maximized or minimized. Pass mode='max' or mode='min'."
        )

    def _is_improvement(self, value: float, reference: float | None) -> bool:
        self._resolve_mode()
        if reference is None:
            return True
        if self._lower_is_better:
            return value + self.min_delta < reference
        return value - self.min_delta > reference

    def _monitored(self, logs: Logs | None, what: str) -> float | None:
        value = (logs or {}).get(self.monitor)
        if value is None:
            warnings.warn(
                f"{what} conditioned on metric `{self.monitor}` which is not available. "
                f"Available metrics are: {','.join(logs or {})}",
                stacklevel=3,
            )
        return value


class EarlyStopping(MonitorCallback):
    """Stops training when `monitor` has stopped improving for `patience` epochs.

    Args:
        monitor: the log key to watch.
        min_delta: smaller changes do not count as improvement.
        patience: epochs without improvement before stopping.
        verbose: 1 prints the stopping epoch.
        mode: `"auto"`, `"min"` or `"max"`.
        baseline: training stops unless the value beats this within `patience` epochs.
        restore_best_weights: at the end, load the weights of the best epoch (kept in
            memory: `get_weights()`/`set_weights()` when the model has them, else a copy
            of `state_dict()`).
        start_from_epoch: epochs to wait before watching.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0.0,
        patience: int = 0,
        verbose: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
    ) -> None:
        super().__init__(monitor, mode, min_delta=min_delta)
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.wait = 0
        self.stopped_epoch = 0
        self.best_epoch = 0
        self.best_weights: Any = None

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        current = self._monitored(logs, "Early stopping")
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = snapshot_weights(self.model)
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = snapshot_weights(self.model)
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(
                    f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}."
                )
            restore_weights(self.model, self.best_weights)


class ReduceLROnPlateau(MonitorCallback):
    """Multiplies the learning rate by `factor` when `monitor` stops improving.

    Args:
        monitor: the log key to watch.
        factor: new rate = rate * factor (< 1).
        patience: epochs without improvement before reducing.
        verbose: 1 prints each reduction.
        mode: `"auto"`, `"min"` or `"max"`.
        min_delta: smaller changes do not count as improvement.
        cooldown: epochs to wait after a reduction before counting again.
        min_lr: the rate never goes below this.

    The rate lives in the torch optimizer's `param_groups` (every group is set); the
    current rate is logged as `learning_rate`.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        verbose: int = 0,
        mode: str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(monitor, mode, min_delta=min_delta)
        if kwargs.pop("epsilon", None) is not None:
            warnings.warn(
                "ReduceLROnPlateau: `epsilon` is deprecated; use `min_delta`.",
                DeprecationWarning,
                stacklevel=2,
            )
        if kwargs:
            raise ConfigError(f"ReduceLROnPlateau: argument(s) not recognized: {sorted(kwargs)}")
        if factor >= 1.0:
            raise ConfigError(
                f"ReduceLROnPlateau does not support a factor >= 1.0. Received factor={factor}"
            )
        self.factor = factor
        self.patience = patience
        self.verbose = verbose
        self.cooldown = cooldown
        self.min_lr = min_lr
        self.cooldown_counter = 0
        self.wait = 0

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.best = None
        self.cooldown_counter = 0
        self.wait = 0

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        optimizer = torch_optimizer(self)
        if logs is not None:
            logs["learning_rate"] = get_learning_rate(optimizer)
        current = self._monitored(logs, "Learning rate reduction")
        if current is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best = current
            self.wait = 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = get_learning_rate(optimizer)
                if old > np.float32(self.min_lr):
                    new = max(old * self.factor, self.min_lr)
                    set_learning_rate(optimizer, new)
                    if self.verbose > 0:
                        print(
                            f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new}."
                        )
                    self.cooldown_counter = self.cooldown
                    self.wait = 0


class ModelCheckpoint(MonitorCallback):
    """Saves the model (or its weights) after each epoch, or every `save_freq` batches.

    Args:
        filepath: path, formatted with `epoch` (1-based) and the logs:
            `"ckpt-{epoch:02d}-{val_loss:.2f}.keras"`.
        monitor, mode: the value `save_best_only` compares.
        verbose: 1 prints each save.
        save_best_only: save only when `monitor` improves.
        save_weights_only: call `model.save_weights(path)` rather than `model.save(path)`.
        save_freq: `"epoch"` or a number of batches.
        initial_value_threshold: the best value to beat at the start.

    A plain `torch.nn.Module` without `save`/`save_weights` is saved as its
    `state_dict()`: with safetensors when the path ends in `.safetensors` (written
    atomically), else with `torch.save`, loadable by `torch.load(path, weights_only=True)`.
    Our models' `save` writes unrolled's model file (see `unrolled.load_model`); to resume a
    killed run with its optimizer, random generators and data order, use
    `fit(..., checkpoint=DIR)`.
    """

    def __init__(
        self,
        filepath: str | os.PathLike[str],
        monitor: str = "val_loss",
        verbose: int = 0,
        save_best_only: bool = False,
        save_weights_only: bool = False,
        mode: str = "auto",
        save_freq: str | int = "epoch",
        initial_value_threshold: float | None = None,
    ) -> None:
        super().__init__(monitor, mode, initial_value_threshold)
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, int)):
            raise ConfigError(
                f"Unrecognized save_freq: {save_freq!r}. Expected 'epoch' or an integer."
            )
        self.filepath = os.fspath(filepath)
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.save_freq = save_freq
        self._epoch = 0
        self._batches_since_save = 0

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        if self.save_freq == "epoch":
            return
        self._batches_since_save += 1
        if self._batches_since_save >= self.save_freq:  # type: ignore[operator]
            self._batches_since_save = 0
            self._save(self._epoch, batch, logs)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if self.save_freq == "epoch":
            self._save(epoch, None, logs)

    def _save(self, epoch: int, batch: int | None, logs: Logs | None) -> None:
        logs = dict(logs or {})
        try:
            extra = {} if batch is None or "batch" in logs else {"batch": batch + 1}
            path = self.filepath.format(epoch=epoch + 1, **extra, **logs)
        except KeyError as e:
            raise ConfigError(
                f'Failed to format this callback filepath: "{self.filepath}". Reason: {e}'
            ) from None
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                warnings.warn(
                    f"Can save best model only with {self.monitor} available.", stacklevel=2
                )
            elif not self._is_improvement(current, self.best):
                if self.verbose > 0:
                    print(
                        f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {self.best:.5f}"
                    )
                return
            else:
                if self.verbose > 0:
                    best = "None" if self.best is None else f"{self.best:.5f}"
                    print(
                        f"\nEpoch {epoch + 1}: {self.monitor} improved from {best} to "
                        f"{current:.5f}, saving model to {path}"
                    )
                self.best = current
        elif self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: saving model to {path}")
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        if os.path.isdir(path):
            raise ConfigError(
                f"Please specify a non-directory filepath for ModelCheckpoint. Received: {path}"
            )
        save_module(self.model, path, weights_only=self.save_weights_only)


def save_module(model: Any, path: str, weights_only: bool) -> None:
    """`model.save_weights(path)` / `model.save(path)` when the model has them, else its state_dict."""
    method = getattr(model, "save_weights" if weights_only else "save", None)
    if callable(method):
        method(path)
        return
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if path.endswith(".safetensors"):
        files.write_bytes(path, files.tensors_to_bytes(state))  # atomic: a crash keeps the last one
        return
    torch.save(state, path)


def snapshot_weights(model: Any) -> Any:
    """A copy of the model's weights: `get_weights()` when it has one, else its state_dict."""
    if callable(getattr(model, "get_weights", None)) and callable(
        getattr(model, "set_weights", None)
    ):
        return ("weights", [np.array(w, copy=True) for w in model.get_weights()])
    return ("state_dict", {k: v.detach().clone() for k, v in model.state_dict().items()})


def restore_weights(model: Any, snapshot: Any) -> None:
    kind, weights = snapshot
    if kind == "weights":
        model.set_weights(weights)
    else:
        model.load_state_dict(weights)
