"""Activation layers with options: `ReLU`, `LeakyReLU`, `PReLU` (a trained slope), `ELU`, `Softmax`.

Keras 2 kept them in `keras.layers.advanced_activations`; this module is that path too.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from unrolled import constraints, initializers, regularizers
from unrolled.errors import ConfigError, ShapeError, shape_str
from unrolled.layers.base import Layer
from unrolled.layers.coerce import as_input, as_weight_input, check_rank
from unrolled.layers.parameters import add_weight


class _Elementwise(Layer):
    """A weightless layer that keeps the input's shape and passes a mask on."""

    supports_masking = True

    def compute_output_shape(self, input_shape: Any) -> tuple[int | None, ...]:
        """The input's shape."""
        return tuple(input_shape)


class ReLU(_Elementwise):
    """Rectified linear unit with Keras's options: a cap, a leak and a threshold.

    `f(x) = max_value` for `x >= max_value`, `x` for `threshold < x < max_value`, and
    `negative_slope * (x - threshold)` otherwise.

    Args:
        max_value: the cap (None: no cap); must not be negative.
        negative_slope: the slope below the threshold; must not be negative.
        threshold: values at or below it are "negative"; must not be negative.

    Shapes:
        output has the input's shape; a mask passes through.

    Example:
        >>> ReLU(max_value=6.0, negative_slope=0.1)(torch.tensor([-10.0, 3.0, 9.0]))
        tensor([-1.,  3.,  6.])
    """

    _config_options = ("max_value", "negative_slope", "threshold")

    def __init__(
        self,
        max_value: float | None = None,
        negative_slope: float = 0.0,
        threshold: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.max_value = None if max_value is None else _non_negative(max_value, "max_value")
        self.negative_slope = _non_negative(negative_slope, "negative_slope")
        self.threshold = _non_negative(threshold, "threshold")
        self.build_from_hint()

    def forward(self, inputs: Any) -> torch.Tensor:
        x = as_input(inputs)
        slope, cap, threshold = self.negative_slope, self.max_value, self.threshold
        # Keras's activations.relu, step by step (its order of cases decides the edges).
        if slope != 0.0 and cap is None and threshold == 0.0:
            return F.leaky_relu(x, slope)
        below = F.relu(threshold - x) if slope != 0.0 else None
        if threshold != 0.0:
            y = torch.where(x > threshold, x, torch.zeros_like(x))
        else:
            y = F.relu(x)
        if cap is not None:
            y = y.clamp(0.0, cap)
        if below is not None:
            y = y - slope * below
        return y


class LeakyReLU(_Elementwise):
    """`f(x) = x` for `x >= 0`, `negative_slope * x` otherwise.

    Args:
        negative_slope: the slope for negative inputs (0.3, Keras's default); must not be
            negative. Keras 2's name `alpha` is accepted with a DeprecationWarning.

    Shapes:
        output has the input's shape; a mask passes through.

    Example:
        >>> LeakyReLU()(torch.tensor([-1.0, 2.0]))
        tensor([-0.3000,  2.0000])
    """

    _config_options = ("negative_slope",)

    def __init__(self, negative_slope: float = 0.3, **kwargs: Any) -> None:
        if "alpha" in kwargs:
            negative_slope = kwargs.pop("alpha")
            warnings.warn(
                "LeakyReLU(alpha=...) is Keras 2's name; use LeakyReLU(negative_slope=...).",
                DeprecationWarning,
                stacklevel=2,
            )
        super().__init__(**kwargs)
        self.negative_slope = _non_negative(negative_slope, "negative_slope")
        self.build_from_hint()

    def forward(self, inputs: Any) -> torch.Tensor:
        return F.leaky_relu(as_input(inputs), self.negative_slope)


class PReLU(_Elementwise):
    """Leaky ReLU with a trained slope per entry: `f(x) = x` for `x >= 0`, `alpha * x` otherwise.

    Args:
        alpha_initializer: initializer of the slopes (Keras's default: zeros).
        alpha_regularizer, alpha_constraint: applied by the training loop.
        shared_axes: axes (counted with the samples axis as 0) that share one slope, e.g.
            `[1]` for one slope per feature across timesteps of `(samples, timesteps, features)`.

    Weights:
        `alpha` of the input's shape without the samples axis, 1 on the shared axes.

    Shapes:
        output has the input's shape; a mask passes through.

    Example:
        >>> layer = PReLU(alpha_initializer=unrolled.initializers.Constant(0.5))
        >>> layer(torch.tensor([[-2.0, 2.0]])).detach()
        tensor([[-1.,  2.]])
    """

    _config_options = ("alpha_initializer", "alpha_regularizer", "alpha_constraint", "shared_axes")

    def __init__(
        self,
        alpha_initializer: initializers.InitializerArg = "Zeros",
        alpha_regularizer: regularizers.RegularizerArg = None,
        alpha_constraint: constraints.ConstraintArg = None,
        shared_axes: int | Sequence[int] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        initializers.get(alpha_initializer, "alpha_initializer")  # checked now, drawn at build
        self.alpha_initializer = alpha_initializer
        self.alpha_regularizer = regularizers.get(alpha_regularizer, "alpha_regularizer")
        self.alpha_constraint = constraints.get(alpha_constraint, "alpha_constraint")
        self.shared_axes = _shared_axes(shared_axes)
        self.register_parameter("alpha", None)  # made by build
        self.input_shape_built: tuple[int | None, ...] | None = None
        self.build_from_hint()

    def build(self, input_shape: Sequence[int | None]) -> None:
        shape = tuple(input_shape)
        self._check_shared_axes(shape)
        alpha_shape = [1 if i in (self.shared_axes or ()) else d for i, d in enumerate(shape)][1:]
        if any(d is None for d in alpha_shape):
            raise ShapeError(
                f"{self.name} makes one slope per entry, so it needs known sizes on every axis "
                f"but the samples axis (or those axes in shared_axes); received input shape "
                f"{shape_str(shape)}."
            )
        add_weight(self, "alpha", tuple(alpha_shape), self.alpha_initializer, "alpha_initializer")
        shared = self.shared_axes or ()
        self.input_shape_built = tuple(
            None if i in shared or i == 0 else d for i, d in enumerate(shape)
        )
        self.built = True
        self._apply_trainable()

    def _check_shared_axes(self, shape: tuple[int | None, ...]) -> None:
        if len(shape) < 2:
            raise ShapeError(
                f"{self.name} expects inputs of shape (samples, ..., features); received input "
                f"shape {shape_str(shape)}."
            )
        for axis in self.shared_axes or ():
            if not 1 <= axis < len(shape):
                raise ShapeError(
                    f"{self.name}: shared_axes={self.shared_axes} names axis {axis}, but inputs "
                    f"of shape {shape_str(shape)} have axes 1 to {len(shape) - 1} besides the "
                    "samples axis."
                )

    @property
    def weights(self) -> list[torch.nn.Parameter]:
        """`[alpha]`."""
        return [self.alpha] if self.built and self.alpha is not None else []

    def forward(self, inputs: Any) -> torch.Tensor:
        x = as_input(inputs)
        check_rank(x, self.name, 2, "(samples, ..., features)")
        self.ensure_built(x)
        assert self.alpha is not None
        fits = x.dim() - 1 == self.alpha.dim() and all(
            a in (1, s) for a, s in zip(self.alpha.shape, x.shape[1:])
        )
        if not fits:
            raise ShapeError(
                f"{self.name} was built for inputs of shape {shape_str(self.input_shape_built)} "
                f"and received {shape_str(x.shape)}; a built layer keeps its weights."
            )
        x = as_weight_input(x, self.alpha, self.name)
        # Keras's relu(x) - alpha * relu(-x).
        return F.relu(x) - self.alpha * F.relu(-x)

    def compute_output_shape(self, input_shape: Any) -> tuple[int | None, ...]:
        shape = tuple(input_shape)
        self._check_shared_axes(shape)
        return shape


class ELU(_Elementwise):
    """Exponential linear unit: `f(x) = x` for `x > 0`, `alpha * (exp(x) - 1)` otherwise.

    Args:
        alpha: the scale of the negative part.

    Shapes:
        output has the input's shape; a mask passes through.

    Keras differences: Keras 3's config leaves `alpha` out (a saved ELU reloads with
    alpha=1.0); ours keeps it.

    Example:
        >>> ELU(alpha=2.0)(torch.tensor([-1.0, 1.0]))  # 2 * (exp(-1) - 1) below zero
        tensor([-1.2642,  1.0000])
    """

    _config_options = ("alpha",)

    def __init__(self, alpha: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.alpha = _real(alpha, "alpha")
        self.build_from_hint()

    def forward(self, inputs: Any) -> torch.Tensor:
        return F.elu(as_input(inputs), self.alpha)


class Softmax(_Elementwise):
    """Softmax over `axis` (or several axes), leaving masked entries out.

    Args:
        axis: the axis, or a list of axes, that each distribution runs over.

    Call:
        `layer(inputs, mask=None)`: where the mask (broadcast to the inputs from the right,
        as Keras does) is False, the entry gets probability 0 and does not count in the others.

    Shapes:
        output has the input's shape; a mask passes through.

    Example:
        >>> layer = Softmax()
        >>> layer(torch.tensor([[1.0, 1.0, 5.0]]), mask=torch.tensor([[True, True, False]]))
        tensor([[0.5000, 0.5000, 0.0000]])
    """

    _config_options = ("axis",)

    def __init__(self, axis: int | Sequence[int] = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)):
            if not axis:
                raise ConfigError("Argument `axis` must name at least one axis. Received: axis=[]")
            self.axis: int | list[int] = [_integer(a, "axis") for a in axis]
        else:
            self.axis = _integer(axis, "axis")
        self.build_from_hint()

    def forward(self, inputs: Any, mask: Any = None) -> torch.Tensor:
        x = as_input(inputs)
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        if any(not -x.dim() <= a < x.dim() for a in axes):
            raise ShapeError(
                f"{self.name}: axis={self.axis} is out of bounds for inputs of shape "
                f"{shape_str(x.shape)}."
            )
        keep = None
        if mask is not None:
            keep = self._broadcast_mask(torch.as_tensor(mask, device=x.device), x)
            # Keras's large negative number, so a fully masked row still sums to 1 before zeroing.
            large_negative = -3e4 if x.dtype == torch.float16 else -1e9
            x = torch.where(keep, x, torch.full_like(x, large_negative))
        if len(axes) > 1:
            y = torch.exp(x - torch.logsumexp(x, dim=axes, keepdim=True))
        else:
            y = torch.softmax(x, dim=axes[0])
        if keep is not None:
            y = torch.where(keep, y, torch.zeros_like(y))
        return y

    def _broadcast_mask(self, mask: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        fits = mask.dim() <= x.dim() and all(
            m in (1, i) for m, i in zip(reversed(mask.shape), reversed(x.shape))
        )
        if not fits:
            raise ShapeError(
                f"{self.name}: the mask must broadcast to the inputs from the last axis (each "
                f"axis 1 or the input's size), as Keras requires; received a mask of shape "
                f"{shape_str(mask.shape)} for inputs of shape {shape_str(x.shape)}."
            )
        return mask > 0.5 if mask.dtype != torch.bool else mask


def _real(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating)):
        raise ConfigError(f"Argument `{name}` must be a number. Received: {name}={value!r}")
    return float(value)


def _non_negative(value: Any, name: str) -> float:
    number = _real(value, name)
    if number < 0.0:
        raise ConfigError(f"Argument `{name}` cannot be negative. Received: {name}={value!r}")
    return number


def _integer(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(f"Argument `{name}` must be an integer. Received: {name}={value!r}")
    return int(value)


def _shared_axes(value: Any) -> list[int] | None:
    if value is None:
        return None
    axes = list(value) if isinstance(value, (list, tuple)) else [value]
    return [_integer(axis, "shared_axes") for axis in axes]
