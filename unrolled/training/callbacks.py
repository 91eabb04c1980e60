"""Keras callbacks for any `torch.nn.Module` trained by `Trainer`.

A callback sees `self.model` (the module being trained), `self.trainer` (the
`Trainer`: its torch `optimizer`, its metrics) and `self.params` (`epochs`, `steps`,
`verbose`). Hooks and their `logs` are Keras's: `logs` holds `loss`, the metric names,
and after validation `val_loss`, `val_<metric>`. Set `self.model.stop_training = True`
to stop after the current batch, as in Keras.

The callbacks that watch a value (EarlyStopping, ModelCheckpoint, ReduceLROnPlateau)
are in `monitor.py`.
"""

from __future__ import annotations

import collections
import csv
import math
import operator
import os
import sys
from collections.abc import Callable, Iterable
from typing import Any

import torch

from unrolled.errors import ConfigError

Logs = dict[str, Any]


class Callback:
    """Base class; override the hooks you need (each default does nothing)."""

    def __init__(self) -> None:
        self.model: Any = None
        self.trainer: Any = None
        self.params: dict[str, Any] = {}

    def set_model(self, model: Any) -> None:
        self.model = model

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params

    def on_train_begin(self, logs: Logs | None = None) -> None: ...
    def on_train_end(self, logs: Logs | None = None) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None: ...
    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None: ...
    def on_test_begin(self, logs: Logs | None = None) -> None: ...
    def on_test_end(self, logs: Logs | None = None) -> None: ...
    def on_predict_begin(self, logs: Logs | None = None) -> None: ...
    def on_predict_end(self, logs: Logs | None = None) -> None: ...
    def on_batch_begin(self, batch: int, logs: Logs | None = None) -> None: ...
    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None: ...

    # Keras's training-batch hooks call the legacy `on_batch_*` ones by default.
    def on_train_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self.on_batch_end(batch, logs=logs)

    def on_test_batch_begin(self, batch: int, logs: Logs | None = None) -> None: ...
    def on_test_batch_end(self, batch: int, logs: Logs | None = None) -> None: ...
    def on_predict_batch_begin(self, batch: int, logs: Logs | None = None) -> None: ...
    def on_predict_batch_end(self, batch: int, logs: Logs | None = None) -> None: ...


def overrides(callback: Callback, hook: str) -> bool:
    """Whether `callback` does something in `hook` (a subclass method or an instance attribute)."""
    if hook in vars(callback):
        return True
    return getattr(type(callback), hook, None) is not getattr(Callback, hook)


class CallbackList:
    """Calls every callback's hook in order; knows which batch hooks need logs at all."""

    def __init__(
        self, callbacks: Iterable[Callback], model: Any, trainer: Any, params: dict[str, Any]
    ) -> None:
        self.callbacks = list(callbacks)
        for callback in self.callbacks:
            if not isinstance(callback, Callback):
                raise ConfigError(
                    "Each callback must be an unrolled.callbacks.Callback. "
                    f"Received: {callback!r} of type {type(callback).__name__}"
                )
            callback.set_model(model)
            callback.trainer = trainer
            callback.set_params(params)
        self.batch_hooks = {
            hook: [c for c in self.callbacks if overrides(c, hook) or _legacy_batch_hook(c, hook)]
            for hook in (
                "on_train_batch_begin",
                "on_train_batch_end",
                "on_test_batch_begin",
                "on_test_batch_end",
                "on_predict_batch_begin",
                "on_predict_batch_end",
            )
        }

    def wants(self, hook: str) -> bool:
        return bool(self.batch_hooks[hook])

    def batch(self, hook: str, batch: int, logs: Logs | None) -> None:
        for callback in self.batch_hooks[hook]:
            getattr(callback, hook)(batch, logs)

    def call(self, hook: str, *args: Any) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(*args)


def _legacy_batch_hook(callback: Callback, hook: str) -> bool:
    legacy = {"on_train_batch_begin": "on_batch_begin", "on_train_batch_end": "on_batch_end"}.get(
        hook
    )
    return legacy is not None and overrides(callback, legacy)


class History(Callback):
    """Records each epoch's logs: `history["loss"][i]`, and the epoch numbers in `epoch`."""

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[Any]] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.epoch = []

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


class ResetStates(Callback):
    """Resets the model's states at the start of every epoch (`reset_state()`, else `reset_states()`).

    The one-line form of the Keras 2 idiom for stateful models:
    `for i in range(100): model.fit(x, y, epochs=1, shuffle=False); model.reset_states()`
    is `model.fit(x, y, epochs=100, shuffle=False, callbacks=[ResetStates()])`
    (also `fit(..., reset_states="epoch")`).
    """

    def on_train_begin(self, logs: Logs | None = None) -> None:
        _check_reset_method(self)

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        reset_method(self.model)()


class ResetStatesAt(Callback):
    """Resets the model's states before the given batches of every epoch.

    For series laid out in chunks (`unrolled.data.stateful_batches`), where a batch starts
    new series rather than continuing the previous batch's:

        b = stateful_batches(series, batch_size=4, steps_per_batch=50)
        model.fit(b.x, b.y, batch_size=b.batch_size, shuffle=False,
                  sample_weight=b.sample_weight, callbacks=[ResetStatesAt(b.reset_before)])

    Args:
        batch_indices: batch numbers within an epoch (0 is the first), before which
            `reset_state()` (else `reset_states()`) is called.
        during: the loops it acts in: "train" (fit's batches), "test" (evaluate, and fit's
            validation), "predict", or a list of them. Each loop counts its own batches, so
            give a loop whose data has another layout its own callback.

    Raises:
        ConfigError: a negative or non-integer batch index, an unknown loop, or a model
            without a reset method (when training, testing or predicting begins).

    Example:
        >>> ResetStatesAt([0, 3]).batch_indices
        frozenset({0, 3})
    """

    _LOOPS = ("train", "test", "predict")

    def __init__(self, batch_indices: Iterable[int], during: str | Iterable[str] = "train") -> None:
        super().__init__()
        given = list(batch_indices)
        try:  # operator.index takes ints, NumPy integers and 0-d integer tensors; not floats
            indices = [operator.index(i) for i in given if not isinstance(i, bool)]
            valid = len(indices) == len(given) and min(indices, default=0) >= 0
        except TypeError:
            valid = False
        if not valid:
            raise ConfigError(
                "`batch_indices` must be non-negative batch numbers. Received: "
                f"batch_indices={given!r}"
            )
        loops = {during} if isinstance(during, str) else set(during)
        if not loops or not loops <= set(self._LOOPS):
            raise ConfigError(
                f"`during` must be one of {self._LOOPS} or a list of them. Received: "
                f"during={during!r}"
            )
        self.batch_indices = frozenset(indices)
        self.during = frozenset(loops)

    def _check(self, loop: str) -> None:
        if loop in self.during:
            _check_reset_method(self)

    def _maybe_reset(self, loop: str, batch: int) -> None:
        if loop in self.during and batch in self.batch_indices:
            reset_method(self.model)()

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self._check("train")

    def on_test_begin(self, logs: Logs | None = None) -> None:
        self._check("test")

    def on_predict_begin(self, logs: Logs | None = None) -> None:
        self._check("predict")

    def on_train_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        self._maybe_reset("train", batch)

    def on_test_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        self._maybe_reset("test", batch)

    def on_predict_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        self._maybe_reset("predict", batch)


def reset_method(model: Any) -> Any:
    """The model's state reset: Keras 3's `reset_state`, else Keras 2's `reset_states`, else None."""
    for name in ("reset_state", "reset_states"):
        method = getattr(model, name, None)
        if callable(method):
            return method
    return None


def _check_reset_method(callback: Callback) -> None:
    if reset_method(callback.model) is None:
        raise ConfigError(
            f"{type(callback).__name__} needs a model with a `reset_state()` or `reset_states()` "
            f"method; {type(callback.model).__name__} has neither."
        )


class TerminateOnNaN(Callback):
    """Stops training quietly at the first batch whose loss is NaN or infinite.

    Args:
        raise_error: raise RuntimeError instead of stopping.
    """

    def __init__(self, raise_error: bool = False) -> None:
        super().__init__()
        self.raise_error = raise_error

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            if self.raise_error:
                raise RuntimeError(
                    f"NaN or Inf loss encountered at batch {batch}. Loss value: {loss}. "
                    "Terminating training immediately."
                )
            print(f"Batch {batch}: Invalid loss, terminating training", file=sys.stdout)
            self.model.stop_training = True


class LambdaCallback(Callback):
    """A callback made of functions: `LambdaCallback(on_epoch_end=lambda epoch, logs: ...)`.

    Accepts on_epoch_begin/end(epoch, logs), on_train_begin/end(logs),
    on_train_batch_begin/end(batch, logs); other keyword arguments become attributes.
    """

    def __init__(self, **functions: Callable[..., Any]) -> None:
        super().__init__()
        for name, function in functions.items():
            if function is None:
                continue
            setattr(self, name, function)


class CSVLogger(Callback):
    """Writes each epoch's logs to a CSV file: `epoch` then the keys sorted, as Keras does.

    Args:
        filename: the file to write.
        separator: the column separator.
        append: add rows to an existing file (its header is kept).
    """

    def __init__(
        self, filename: str | os.PathLike[str], separator: str = ",", append: bool = False
    ) -> None:
        super().__init__()
        self.filename = os.fspath(filename)
        self.sep = separator
        self.append = append
        self._file: Any = None
        self._writer: Any = None
        self._keys: list[str] | None = None
        self._write_header = True

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self._write_header = True
        if self.append and os.path.exists(self.filename):
            with open(self.filename) as existing:
                self._write_header = not existing.readline()
        if self._file is not None and not self._file.closed:
            self._file.close()
        self._file = open(self.filename, "a" if self.append else "w", newline="")  # noqa: SIM115
        self._writer = None
        self._keys = None

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        logs = logs or {}
        if self._keys is None:
            self._keys = sorted(logs)
            if self._keys and not any(k.startswith("val_") for k in self._keys):
                # Keras reserves the validation columns even when there is no validation.
                self._keys += [f"val_{k}" for k in self._keys]
        if self._writer is None:
            dialect = type("Dialect", (csv.excel,), {"delimiter": self.sep})
            self._writer = csv.DictWriter(
                self._file, fieldnames=["epoch", *self._keys], dialect=dialect
            )
            if self._write_header:
                self._writer.writeheader()
        row = collections.OrderedDict(epoch=epoch)
        row.update((k, logs.get(k, "NA")) for k in self._keys)
        self._writer.writerow(row)
        self._file.flush()

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self._file is not None and not self._file.closed:
            self._file.close()
        self._writer = None


class LearningRateScheduler(Callback):
    """Sets the learning rate at each epoch start to `schedule(epoch, lr)` (or `schedule(epoch)`)."""

    def __init__(self, schedule: Callable[..., float], verbose: int = 0) -> None:
        super().__init__()
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        optimizer = torch_optimizer(self)
        try:
            rate = self.schedule(epoch, get_learning_rate(optimizer))
        except TypeError:  # the one-argument form of Keras 2
            rate = self.schedule(epoch)
        if not isinstance(rate, (float, int)) or isinstance(rate, bool):
            raise ConfigError(
                f"The output of the `schedule` function should be a float. Got: {rate!r}"
            )
        set_learning_rate(optimizer, float(rate))
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {rate}.")

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if logs is not None:
            logs["learning_rate"] = get_learning_rate(torch_optimizer(self))


def torch_optimizer(callback: Callback) -> torch.optim.Optimizer:
    """The torch optimizer being used to train `callback.model`."""
    optimizer = getattr(callback.trainer, "optimizer", None) or getattr(
        callback.model, "optimizer", None
    )
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise ConfigError(
            f"{type(callback).__name__} needs the torch optimizer of the training run; "
            "use it with fit()."
        )
    return optimizer


def get_learning_rate(optimizer: torch.optim.Optimizer) -> float:
    return float(optimizer.param_groups[0]["lr"])


def set_learning_rate(optimizer: torch.optim.Optimizer, rate: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = rate
