"""Keras 3 metrics: stateful objects that average over an epoch, on torch tensors.

`update_state(y_true, y_pred, sample_weight=None)` adds a batch, `result()` gives the
running value as a 0-d tensor, `reset_state()` starts over. Like Keras's `Mean`, each
batch contributes one value per sample (per-timestep values are first averaged per
sample), so an epoch's result is the sample-weighted mean, not the mean of batch means.
Totals stay on the tensors' device; nothing is read back to the CPU until `result()`.

Example:
    >>> import torch
    >>> m = MeanAbsoluteError()
    >>> m.update_state(torch.zeros(2, 1), torch.ones(2, 1))
    >>> m.update_state(torch.zeros(1, 1), torch.full((1, 1), 4.0))
    >>> float(m.result())  # (1 + 1 + 4) / 3
    2.0
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from unrolled.errors import ConfigError, InputTypeError
from unrolled.training import losses
from unrolled.training.losses import squeeze_or_expand_to_same_rank


class Metric:
    """Base class of stateful metrics.

    Attributes:
        name: the key in training logs.
        direction: `"up"` when larger is better, `"down"` when smaller is, else None;
            callbacks with `mode="auto"` read it.
    """

    direction: str | None = None

    def __init__(self, name: str | None = None) -> None:
        self.name = name or losses._snake(type(self).__name__)

    def update_state(
        self, y_true: torch.Tensor, y_pred: torch.Tensor, sample_weight: torch.Tensor | None = None
    ) -> None:
        raise NotImplementedError

    def result(self) -> torch.Tensor:
        raise NotImplementedError

    def reset_state(self) -> None:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments (Keras's), so `type(m)(**m.get_config())` is a copy."""
        return {"name": self.name}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"


class Mean(Metric):
    """The weighted mean of values over every update since the last reset."""

    def __init__(self, name: str = "mean") -> None:
        super().__init__(name)
        self.reset_state()

    def reset_state(self) -> None:
        self._total: torch.Tensor | None = None
        self._count = 0.0  # Python number while no sample weights are given
        self._weighted_count: torch.Tensor | None = None

    def update_state(self, values: torch.Tensor, sample_weight: torch.Tensor | None = None) -> None:  # type: ignore[override]
        values = values.detach().float()
        if sample_weight is not None:
            weight = sample_weight.detach().to(device=values.device, dtype=values.dtype)
            values, weight = squeeze_or_expand_to_same_rank(values, weight)
            if values.dim() > weight.dim():
                values = values.mean(dim=tuple(range(weight.dim(), values.dim())))
            weight = weight.broadcast_to(values.shape)
            values = values * weight
            if weight.dim() > 1:
                weight = weight.mean(dim=tuple(range(1, weight.dim())))
            weight_sum = weight.sum()
            self._weighted_count = (
                weight_sum if self._weighted_count is None else self._weighted_count + weight_sum
            )
        if values.dim() > 1:
            values = values.mean(dim=tuple(range(1, values.dim())))
        batch_total = values.sum()
        if self._total is None:
            self._total = batch_total
        else:
            self._total = self._total + batch_total
        if sample_weight is None:
            self._count += values.shape[0] if values.dim() else 1

    def result(self) -> torch.Tensor:
        if self._total is None:
            return torch.zeros(())
        count = self._count if self._weighted_count is None else self._weighted_count + self._count
        if isinstance(count, torch.Tensor):
            return torch.where(count != 0, self._total / count, torch.zeros_like(self._total))
        return self._total / count if count else torch.zeros_like(self._total)


class DeferredMean(Mean):
    """A `Mean` over per-sample values computed from `(y_true, y_pred)` batches.

    Batches are kept (detached) and computed together when `result()` is read, or every
    `FLUSH_EVERY` batches: with small batches that is one vectorized computation instead
    of a handful of tiny kernels per batch. The totals are the same sums.
    """

    FLUSH_EVERY = 256

    def reset_state(self) -> None:
        super().reset_state()
        self._pending: list[
            tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]
        ] = []

    def update_state(
        self,
        y_true: torch.Tensor,
        y_pred: torch.Tensor,  # type: ignore[override]
        sample_weight: torch.Tensor | None = None,
    ) -> None:
        mask = getattr(y_pred, "_keras_mask", None)
        self._pending.append((y_true, y_pred.detach(), sample_weight, mask))
        if len(self._pending) >= self.FLUSH_EVERY:
            self._flush()

    def result(self) -> torch.Tensor:
        self._flush()
        return super().result()

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        if not pending:
            return
        if len(pending) > 1:
            try:
                pending = [tuple(_cat([item[i] for item in pending]) for i in range(4))]  # type: ignore[misc]
            except (RuntimeError, TypeError):  # ragged shapes or mixed weights: one by one
                pass
        for y_true, y_pred, sample_weight, mask in pending:
            self._apply(y_true, y_pred, sample_weight, mask)

    def _apply(
        self,
        y_true: torch.Tensor,
        y_pred: torch.Tensor,
        sample_weight: torch.Tensor | None,
        mask: torch.Tensor | None,
    ) -> None:
        raise NotImplementedError


def _cat(parts: list[torch.Tensor | None]) -> torch.Tensor | None:
    if all(p is None for p in parts):
        return None
    if any(p is None for p in parts):
        raise TypeError("some batches have no value")
    return torch.cat(parts)  # type: ignore[arg-type]


class MeanMetricWrapper(DeferredMean):
    """The epoch mean of a per-sample function `fn(y_true, y_pred, **kwargs)`."""

    def __init__(
        self,
        fn: Callable[..., torch.Tensor],
        name: str | None = None,
        direction: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name or getattr(fn, "__name__", "metric"))
        self.fn = fn
        self.fn_kwargs = kwargs
        if direction is not None:
            self.direction = direction

    def _apply(self, y_true, y_pred, sample_weight, mask):  # type: ignore[no-untyped-def]
        values = self.fn(y_true, y_pred, **self.fn_kwargs)
        if mask is not None:
            # Keras: masked values get weight 0 (no rescaling for metrics).
            mask = mask.to(device=values.device, dtype=torch.float32)
            if sample_weight is None:
                sample_weight = mask
            else:
                mask, sample_weight = squeeze_or_expand_to_same_rank(mask, sample_weight.float())
                sample_weight = sample_weight * mask
        Mean.update_state(self, values, sample_weight)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), **self.fn_kwargs}


# ---- per-sample accuracy functions, `keras.metrics.<name>` --------------------------


def accuracy(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true.to(y_pred.dtype), y_pred)
    return (y_true == y_pred).float()


def binary_accuracy(
    y_true: torch.Tensor, y_pred: torch.Tensor, threshold: float = 0.5
) -> torch.Tensor:
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    return (y_true == (y_pred > threshold).to(y_true.dtype)).float()


def categorical_accuracy(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    return (torch.argmax(y_true, dim=-1) == torch.argmax(y_pred, dim=-1)).float()


def sparse_categorical_accuracy(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    if y_true.dim() == y_pred.dim() and y_true.shape[-1] == 1:
        y_true = y_true.squeeze(-1)
    matches = (y_true.to(torch.long) == torch.argmax(y_pred, dim=-1)).float()
    if matches.dim() > 1 and matches.shape[-1] == 1:
        matches = matches.squeeze(-1)
    return matches


def root_mean_squared_error(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """Per-sample mean squared error; `RootMeanSquaredError` takes the root of the epoch mean."""
    return losses.mean_squared_error(y_true, y_pred)


# ---- metric classes ----------------------------------------------------------------


def _wrapper(
    fn: Callable[..., torch.Tensor], default_name: str, direction: str
) -> type[MeanMetricWrapper]:
    class _Metric(MeanMetricWrapper):
        def __init__(self, name: str = default_name) -> None:
            super().__init__(fn, name=name, direction=direction)

    return _Metric


class MeanSquaredError(_wrapper(losses.mean_squared_error, "mean_squared_error", "down")):  # type: ignore[misc]
    pass


class MeanAbsoluteError(_wrapper(losses.mean_absolute_error, "mean_absolute_error", "down")):  # type: ignore[misc]
    pass


class MeanAbsolutePercentageError(
    _wrapper(losses.mean_absolute_percentage_error, "mean_absolute_percentage_error", "down")  # type: ignore[misc]
):
    pass


class MeanSquaredLogarithmicError(
    _wrapper(losses.mean_squared_logarithmic_error, "mean_squared_logarithmic_error", "down")  # type: ignore[misc]
):
    pass


class Accuracy(_wrapper(accuracy, "accuracy", "up")):  # type: ignore[misc]
    pass


class CategoricalAccuracy(_wrapper(categorical_accuracy, "categorical_accuracy", "up")):  # type: ignore[misc]
    pass


class SparseCategoricalAccuracy(
    _wrapper(sparse_categorical_accuracy, "sparse_categorical_accuracy", "up")  # type: ignore[misc]
):
    pass


class BinaryAccuracy(MeanMetricWrapper):
    def __init__(self, name: str = "binary_accuracy", threshold: float = 0.5) -> None:
        super().__init__(binary_accuracy, name=name, direction="up", threshold=threshold)


class RootMeanSquaredError(DeferredMean):
    """`sqrt` of the epoch's weighted mean squared error."""

    direction = "down"

    def __init__(self, name: str = "root_mean_squared_error") -> None:
        super().__init__(name)

    def _apply(self, y_true, y_pred, sample_weight, mask):  # type: ignore[no-untyped-def]
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true.to(y_pred.dtype), y_pred)
        Mean.update_state(self, torch.square(y_pred - y_true), sample_weight)

    def result(self) -> torch.Tensor:
        return torch.sqrt(super().result())


_CLASSES: dict[str, type[Metric]] = {
    cls.__name__: cls
    for cls in (
        MeanSquaredError,
        MeanAbsoluteError,
        MeanAbsolutePercentageError,
        MeanSquaredLogarithmicError,
        RootMeanSquaredError,
        Accuracy,
        BinaryAccuracy,
        CategoricalAccuracy,
        SparseCategoricalAccuracy,
    )
}
# Each class by its snake-case name (`mean_squared_error`) and the short ones; "accuracy"
# chooses its class from the data (`_from_name`).
_NAMES: dict[str, type[Metric]] = {
    **{losses._snake(name): cls for name, cls in _CLASSES.items() if cls is not Accuracy},
    "mse": MeanSquaredError,
    "mae": MeanAbsoluteError,
    "mape": MeanAbsolutePercentageError,
    "msle": MeanSquaredLogarithmicError,
    "rmse": RootMeanSquaredError,
}
_LOSS_METRICS = (
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "huber",
    "log_cosh",
)


def get(
    identifier: Any, y_true: torch.Tensor | None = None, y_pred: torch.Tensor | None = None
) -> Metric:
    """The metric for `identifier`, named as Keras names it in the logs.

    Args:
        identifier: a name (`"mae"`, `"mse"`, `"rmse"`, `"mape"`, `"accuracy"`/`"acc"`, a
            `keras.metrics` function or class name), a `Metric` object, or a function
            `f(y_true, y_pred)` giving per-sample values.
        y_true, y_pred: a batch of targets and predictions; `"accuracy"` needs them to
            choose its kind as Keras 3 does: binary when predictions have one column,
            sparse categorical when targets have fewer axes than predictions (or one
            column against several), categorical otherwise.

    A name keeps its spelling as the log key (`"acc"` logs as `acc`, `val_acc`).
    """
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, str):
        return _from_name(identifier, y_true, y_pred)
    if callable(identifier):
        return MeanMetricWrapper(identifier, name=getattr(identifier, "__name__", "metric"))
    raise InputTypeError(
        "Could not interpret metric identifier. Expected a name such as 'mae', a Metric "
        f"object or a function f(y_true, y_pred). Received: metric={identifier!r}"
    )


def _from_name(name: str, y_true: torch.Tensor | None, y_pred: torch.Tensor | None) -> Metric:
    key = name.lower()
    if key in ("accuracy", "acc"):
        if y_true is None or y_pred is None:
            raise ConfigError(
                f"Metric {name!r} needs a batch of y_true and y_pred to choose its kind."
            )
        is_binary = y_pred.shape[-1] == 1 if y_pred.dim() else True
        is_sparse = y_true.dim() < y_pred.dim() or (y_true.shape[-1] == 1 and y_pred.shape[-1] > 1)
        cls: type[Metric] = (
            BinaryAccuracy
            if is_binary
            else SparseCategoricalAccuracy
            if is_sparse
            else CategoricalAccuracy
        )
        return cls(name=name)  # type: ignore[call-arg]
    if name in _CLASSES:
        return _CLASSES[name]()
    if key in _NAMES:
        return _NAMES[key](name=name)  # type: ignore[call-arg]
    if key in _LOSS_METRICS:
        return MeanMetricWrapper(getattr(losses, key), name=name, direction="down")
    raise ConfigError(
        f"Unknown metric {name!r}. Expected one of: "
        f"{', '.join(sorted({'accuracy', 'acc', *_NAMES, *_LOSS_METRICS, *_CLASSES}))}, "
        "or a function f(y_true, y_pred)."
    )
