"""Keras 3 losses on torch tensors: names, objects and the reduction Keras applies.

A loss function maps `(y_true, y_pred)` to one value per sample (and per timestep for
sequence outputs): the mean over the last axis. A `Loss` object then reduces those
values the Keras way, `"sum_over_batch_size"`: multiply by `sample_weight`, sum, divide
by the number of values. A Keras mask on `y_pred` (attribute `_keras_mask`) drops the
masked values and rescales the rest, as Keras does.

Example:
    >>> import torch
    >>> y_true, y_pred = torch.zeros(4, 2), torch.ones(4, 2)
    >>> float(MeanSquaredError()(y_true, y_pred))
    1.0
    >>> float(get("mae")(y_true, y_pred, sample_weight=torch.tensor([1.0, 1.0, 0.0, 0.0])))
    0.5
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from unrolled.errors import ConfigError, InputTypeError

EPSILON = 1e-7  # keras.backend.epsilon(): clipping of probabilities, MAPE's floor
LossFn = Callable[..., torch.Tensor]
_REDUCTIONS = ("sum_over_batch_size", "mean", "sum", "mean_with_sample_weight", "none", None)


def squeeze_or_expand_to_same_rank(
    x1: torch.Tensor, x2: torch.Tensor, expand_rank_1: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Keras's alignment of `(N,)` targets with `(N, 1)` outputs, and the reverse."""
    rank_1, rank_2 = x1.dim(), x2.dim()
    if rank_1 == rank_2 + 1 and x1.shape[-1] == 1:
        if rank_2 == 1 and expand_rank_1:
            x2 = x2.unsqueeze(-1)
        else:
            x1 = x1.squeeze(-1)
    elif rank_2 == rank_1 + 1 and x2.shape[-1] == 1:
        if rank_1 == 1 and expand_rank_1:
            x1 = x1.unsqueeze(-1)
        else:
            x2 = x2.squeeze(-1)
    return x1, x2


# ---- per-sample functions, `keras.losses.<name>` ------------------------------------


def mean_squared_error(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """`mean(square(y_true - y_pred), axis=-1)`."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true.to(y_pred.dtype), y_pred)
    return torch.mean(torch.square(y_true - y_pred), dim=-1)


def mean_absolute_error(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """`mean(abs(y_true - y_pred), axis=-1)`."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true.to(y_pred.dtype), y_pred)
    return torch.mean(torch.abs(y_true - y_pred), dim=-1)


def mean_absolute_percentage_error(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """`100 * mean(abs((y_true - y_pred) / max(abs(y_true), 1e-7)), axis=-1)`."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true.to(y_pred.dtype), y_pred)
    diff = torch.abs((y_true - y_pred) / torch.clamp(torch.abs(y_true), min=EPSILON))
    return 100.0 * torch.mean(diff, dim=-1)


def mean_squared_logarithmic_error(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """`mean(square(log(y_pred + 1) - log(y_true + 1)), axis=-1)`, values floored at 1e-7."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true.to(y_pred.dtype), y_pred)
    first = torch.log(torch.clamp(y_pred, min=EPSILON) + 1.0)
    second = torch.log(torch.clamp(y_true, min=EPSILON) + 1.0)
    return torch.mean(torch.square(first - second), dim=-1)


def huber(y_true: torch.Tensor, y_pred: torch.Tensor, delta: float = 1.0) -> torch.Tensor:
    """Quadratic for `|error| <= delta`, linear beyond; mean over the last axis."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true.to(y_pred.dtype), y_pred)
    return torch.mean(F.huber_loss(y_pred, y_true, reduction="none", delta=delta), dim=-1)


def log_cosh(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """`mean(log(cosh(y_pred - y_true)), axis=-1)`, computed stably."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true.to(y_pred.dtype), y_pred)
    x = y_pred - y_true
    return torch.mean(
        x + F.softplus(-2.0 * x) - torch.log(torch.tensor(2.0, dtype=x.dtype)), dim=-1
    )


def binary_crossentropy(
    y_true: torch.Tensor,
    y_pred: torch.Tensor,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> torch.Tensor:
    """Mean binary crossentropy over `axis`; probabilities are clipped to [1e-7, 1 - 1e-7]."""
    y_true = y_true.to(y_pred.dtype)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    _same_shape(y_true, y_pred, "binary_crossentropy")
    if from_logits:
        values = F.binary_cross_entropy_with_logits(y_pred, y_true, reduction="none")
    else:
        values = F.binary_cross_entropy(
            torch.clamp(y_pred, EPSILON, 1.0 - EPSILON), y_true, reduction="none"
        )
    return torch.mean(values, dim=axis)


def categorical_crossentropy(
    y_true: torch.Tensor,
    y_pred: torch.Tensor,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> torch.Tensor:
    """`-sum(y_true * log(p), axis)` for one-hot `y_true`; `p` renormalized and clipped."""
    y_true = y_true.to(y_pred.dtype)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / y_true.shape[-1]
    _same_shape(y_true, y_pred, "categorical_crossentropy")
    if from_logits:
        log_prob = F.log_softmax(y_pred, dim=axis)
    else:
        p = y_pred / torch.sum(y_pred, dim=axis, keepdim=True)
        log_prob = torch.log(torch.clamp(p, EPSILON, 1.0 - EPSILON))
    return -torch.sum(y_true * log_prob, dim=axis)


def sparse_categorical_crossentropy(
    y_true: torch.Tensor,
    y_pred: torch.Tensor,
    from_logits: bool = False,
    axis: int = -1,
) -> torch.Tensor:
    """Categorical crossentropy with integer class ids `y_true` of shape `y_pred.shape[:-1]`."""
    if y_true.dim() == y_pred.dim() and y_true.shape[axis] == 1:
        y_true = y_true.squeeze(axis)
    y_true = y_true.long()
    if tuple(y_true.shape) != tuple(y_pred.shape[:-1]):
        raise ConfigError(
            "sparse_categorical_crossentropy expects integer targets of shape "
            f"{tuple(y_pred.shape[:-1])} for predictions of shape {tuple(y_pred.shape)}. "
            f"Received: y_true.shape={tuple(y_true.shape)}"
        )
    logits = y_pred.movedim(axis, 1) if y_pred.dim() > 1 else y_pred.unsqueeze(0)
    target = y_true if y_pred.dim() > 1 else y_true.unsqueeze(0)
    if from_logits:
        values = F.cross_entropy(logits, target, reduction="none")
    else:
        p = logits / torch.sum(logits, dim=1, keepdim=True)
        values = F.nll_loss(
            torch.log(torch.clamp(p, EPSILON, 1.0 - EPSILON)), target, reduction="none"
        )
    return values if y_pred.dim() > 1 else values.squeeze(0)


def _same_shape(y_true: torch.Tensor, y_pred: torch.Tensor, name: str) -> None:
    if y_true.shape != y_pred.shape:
        raise ConfigError(
            f"{name}: `y_true` and `y_pred` must have the same shape. "
            f"Received: y_true.shape={tuple(y_true.shape)}, y_pred.shape={tuple(y_pred.shape)}"
        )


# ---- reduction ----------------------------------------------------------------------


def reduce_weighted_values(
    values: torch.Tensor,
    sample_weight: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
    reduction: str | None = "sum_over_batch_size",
) -> torch.Tensor:
    """Keras's `reduce_weighted_values`: weight, mask, then sum and divide."""
    if mask is not None:
        mask = mask.to(values.device)
        if reduction in ("mean", "sum_over_batch_size"):
            # Masked values get weight 0 and the rest total/valid, so the mean is over valid ones.
            valid = mask.sum().to(values.dtype)
            scale = torch.where(valid > 0, mask.numel() / valid.clamp(min=1), valid)
            float_mask = torch.where(
                mask.bool(), scale, torch.zeros((), dtype=values.dtype, device=values.device)
            )
        else:
            float_mask = mask.to(values.dtype)
        if sample_weight is None:
            sample_weight = float_mask
        else:
            float_mask, sample_weight = squeeze_or_expand_to_same_rank(
                float_mask, sample_weight.to(values.dtype)
            )
            sample_weight = sample_weight * float_mask
    if sample_weight is not None:
        sample_weight = sample_weight.to(device=values.device, dtype=values.dtype)
        values, sample_weight = squeeze_or_expand_to_same_rank(values, sample_weight)
        if sample_weight.dim() < values.dim():
            # Per-sample weights on per-timestep values: broadcast over the trailing axes.
            sample_weight = sample_weight.reshape(
                *sample_weight.shape, *[1] * (values.dim() - sample_weight.dim())
            )
        values = values * sample_weight
    if reduction in (None, "none") or values.dim() == 0 or values.numel() == 0:
        return values
    loss = values.sum()
    if reduction == "sum":
        return loss
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        divisor = sample_weight.sum()
        return torch.where(divisor != 0, loss / divisor, torch.zeros_like(loss))
    return loss / values.numel()


class Loss:
    """Base class: `call(y_true, y_pred)` gives per-sample values, `__call__` reduces them.

    Args:
        name: the name shown in logs.
        reduction: `"sum_over_batch_size"` (default), `"mean"`, `"sum"`,
            `"mean_with_sample_weight"` or `None`/`"none"`.
    """

    def __init__(
        self, name: str | None = None, reduction: str | None = "sum_over_batch_size"
    ) -> None:
        if reduction not in _REDUCTIONS:
            raise ConfigError(
                f"Invalid value for argument `reduction`. Expected one of {list(_REDUCTIONS)}. "
                f"Received: reduction={reduction!r}"
            )
        self.name = name or _snake(type(self).__name__)
        self.reduction = reduction

    def call(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __call__(
        self, y_true: torch.Tensor, y_pred: torch.Tensor, sample_weight: torch.Tensor | None = None
    ) -> torch.Tensor:
        mask = getattr(y_pred, "_keras_mask", None)
        if (
            sample_weight is None
            and mask is None
            and self.reduction in ("sum_over_batch_size", "mean")
        ):
            fast = self._mean(y_true, y_pred)
            if fast is not None:
                return fast
        return reduce_weighted_values(
            self.call(y_true, y_pred), sample_weight, mask, self.reduction
        )

    def _mean(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor | None:
        """The unweighted mean in one fused op where torch has one (same value, fewer ops)."""
        return None

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "reduction": self.reduction}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class LossFunctionWrapper(Loss):
    """A `Loss` around a per-sample function `fn(y_true, y_pred, **kwargs)`."""

    def __init__(
        self,
        fn: LossFn,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name or getattr(fn, "__name__", None), reduction=reduction)
        self.fn = fn
        self.fn_kwargs = kwargs

    def call(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        return self.fn(y_true, y_pred, **self.fn_kwargs)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), **self.fn_kwargs}


def _aligned(
    y_true: torch.Tensor, y_pred: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor] | None:
    # The fused paths need equal shapes after Keras's rank alignment, and float values.
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    if y_true.shape != y_pred.shape:
        return None
    return y_true.to(y_pred.dtype), y_pred


class MeanSquaredError(LossFunctionWrapper):
    def __init__(
        self, reduction: str | None = "sum_over_batch_size", name: str = "mean_squared_error"
    ) -> None:
        super().__init__(mean_squared_error, reduction=reduction, name=name)

    def _mean(self, y_true, y_pred):  # type: ignore[no-untyped-def]
        pair = _aligned(y_true, y_pred)
        return None if pair is None else F.mse_loss(pair[1], pair[0])


class MeanAbsoluteError(LossFunctionWrapper):
    def __init__(
        self, reduction: str | None = "sum_over_batch_size", name: str = "mean_absolute_error"
    ) -> None:
        super().__init__(mean_absolute_error, reduction=reduction, name=name)

    def _mean(self, y_true, y_pred):  # type: ignore[no-untyped-def]
        pair = _aligned(y_true, y_pred)
        return None if pair is None else F.l1_loss(pair[1], pair[0])


class MeanAbsolutePercentageError(LossFunctionWrapper):
    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str = "mean_absolute_percentage_error",
    ) -> None:
        super().__init__(mean_absolute_percentage_error, reduction=reduction, name=name)


class MeanSquaredLogarithmicError(LossFunctionWrapper):
    def __init__(
        self,
        reduction: str | None = "sum_over_batch_size",
        name: str = "mean_squared_logarithmic_error",
    ) -> None:
        super().__init__(mean_squared_logarithmic_error, reduction=reduction, name=name)


class Huber(LossFunctionWrapper):
    def __init__(
        self,
        delta: float = 1.0,
        reduction: str | None = "sum_over_batch_size",
        name: str = "huber_loss",
    ) -> None:
        super().__init__(huber, reduction=reduction, name=name, delta=delta)

    def _mean(self, y_true, y_pred):  # type: ignore[no-untyped-def]
        pair = _aligned(y_true, y_pred)
        return (
            None if pair is None else F.huber_loss(pair[1], pair[0], delta=self.fn_kwargs["delta"])
        )


class LogCosh(LossFunctionWrapper):
    def __init__(
        self, reduction: str | None = "sum_over_batch_size", name: str = "log_cosh"
    ) -> None:
        super().__init__(log_cosh, reduction=reduction, name=name)


class BinaryCrossentropy(LossFunctionWrapper):
    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str = "binary_crossentropy",
    ) -> None:
        super().__init__(
            binary_crossentropy,
            reduction=reduction,
            name=name,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )

    def _mean(self, y_true, y_pred):  # type: ignore[no-untyped-def]
        if self.fn_kwargs["label_smoothing"]:
            return None
        pair = _aligned(y_true, y_pred)
        if pair is None:
            return None
        if self.fn_kwargs["from_logits"]:
            return F.binary_cross_entropy_with_logits(pair[1], pair[0])
        return F.binary_cross_entropy(torch.clamp(pair[1], EPSILON, 1.0 - EPSILON), pair[0])


class CategoricalCrossentropy(LossFunctionWrapper):
    def __init__(
        self,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction: str | None = "sum_over_batch_size",
        name: str = "categorical_crossentropy",
    ) -> None:
        super().__init__(
            categorical_crossentropy,
            reduction=reduction,
            name=name,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )


class SparseCategoricalCrossentropy(LossFunctionWrapper):
    def __init__(
        self,
        from_logits: bool = False,
        reduction: str | None = "sum_over_batch_size",
        name: str = "sparse_categorical_crossentropy",
    ) -> None:
        super().__init__(
            sparse_categorical_crossentropy, reduction=reduction, name=name, from_logits=from_logits
        )


# Each Keras loss function and the class that wraps it: the one table of the losses we know.
_FUNCTION_AND_CLASS: tuple[tuple[LossFn, type[Loss]], ...] = (
    (mean_squared_error, MeanSquaredError),
    (mean_absolute_error, MeanAbsoluteError),
    (mean_absolute_percentage_error, MeanAbsolutePercentageError),
    (mean_squared_logarithmic_error, MeanSquaredLogarithmicError),
    (huber, Huber),
    (log_cosh, LogCosh),
    (binary_crossentropy, BinaryCrossentropy),
    (categorical_crossentropy, CategoricalCrossentropy),
    (sparse_categorical_crossentropy, SparseCategoricalCrossentropy),
)
_FUNCTIONS: dict[str, LossFn] = {fn.__name__: fn for fn, _ in _FUNCTION_AND_CLASS}
_ALIASES = {
    "mse": "mean_squared_error",
    "mae": "mean_absolute_error",
    "mape": "mean_absolute_percentage_error",
    "msle": "mean_squared_logarithmic_error",
    "bce": "binary_crossentropy",
    "huber_loss": "huber",
    "logcosh": "log_cosh",
}
_CLASSES: dict[str, type[Loss]] = {cls.__name__: cls for _, cls in _FUNCTION_AND_CLASS}
# A string resolves to the class with the Keras defaults and keeps the string as its name.
_CLASS_OF_FUNCTION = {fn.__name__: cls for fn, cls in _FUNCTION_AND_CLASS}


def get(identifier: Any) -> Loss:
    """The `Loss` for a Keras name (`"mse"`, `"mean_squared_error"`, `"MeanSquaredError"`,
    `"binary_crossentropy"`, ...), a `Loss` object, a function `f(y_true, y_pred)`, or a
    `torch.nn` loss module (called as `module(y_pred, y_true)`, torch's order).

    Raises:
        ConfigError: unknown name. InputTypeError: not a name or a callable.
    """
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if isinstance(identifier, str):
        return _from_name(identifier)
    if isinstance(identifier, torch.nn.modules.loss._Loss):
        return LossFunctionWrapper(_TorchLoss(identifier), name=_snake(type(identifier).__name__))
    if callable(identifier):
        return LossFunctionWrapper(identifier, name=getattr(identifier, "__name__", "loss"))
    raise InputTypeError(
        "Could not interpret loss identifier. Expected a name such as 'mse', a Loss object or "
        f"a function f(y_true, y_pred). Received: loss={identifier!r}"
    )


class _TorchLoss:
    """A `torch.nn` loss module called in Keras's argument order, `(y_true, y_pred)`.

    A class rather than a closure so that a model compiled with it can be pickled.
    """

    def __init__(self, module: torch.nn.Module) -> None:
        self.module = module

    def __call__(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        return self.module(y_pred, y_true.to(y_pred.dtype))  # torch's order


def _from_name(name: str) -> Loss:
    # A class name gives that class with Keras's defaults; a function name or alias (any
    # case) gives the same class named after the string, as Keras names compiled losses.
    if name in _CLASSES:
        return _CLASSES[name]()
    key = _ALIASES.get(name.lower(), name.lower())
    if key in _CLASS_OF_FUNCTION:
        loss = _CLASS_OF_FUNCTION[key]()
        loss.name = name
        return loss
    raise ConfigError(
        f"Unknown loss {name!r}. Expected one of: "
        f"{', '.join(sorted([*_FUNCTIONS, *_ALIASES, *_CLASSES]))}, "
        "or a function f(y_true, y_pred)."
    )


def _snake(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if (
            ch.isupper()
            and i
            and (not name[i - 1].isupper() or (i + 1 < len(name) and name[i + 1].islower()))
        ):
            out.append("_")
        out.append(ch.lower())
    return "".join(out)
