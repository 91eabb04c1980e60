"""`Dropout`: inverted dropout, active only in training, with Keras's `noise_shape` and `seed`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from unrolled.errors import ConfigError, ShapeError, rate, shape_str
from unrolled.layers.base import Layer
from unrolled.layers.coerce import as_input


class Dropout(Layer):
    """Zeros a fraction `rate` of the inputs in training and scales the rest by `1 / (1 - rate)`.

    Args:
        rate: fraction of the inputs to drop, in [0, 1]; 1 drops everything.
        noise_shape: the shape of the keep/drop mask, broadcast over the input; None entries
            take the input's size, e.g. `(None, 1, None)` drops the same features at every
            timestep of `(samples, timesteps, features)`.
        seed: seeds this layer's own generator (draws are made on the CPU, so a seed gives
            the same masks on any device); None uses torch's global generator.

    Call:
        `layer(inputs, training=None)`; outside training the inputs pass through unchanged.

    Shapes:
        output has the input's shape; a mask passes through.

    Keras differences: `training=None` follows the module's `train()`/`eval()` mode, as in
    PyTorch (Keras treats it as inference outside `fit`). The random draws differ from
    Keras's, so masks match it in distribution, not bit for bit.

    Example:
        >>> layer = Dropout(0.5).eval()
        >>> layer(torch.ones(2, 3))
        tensor([[1., 1., 1.],
                [1., 1., 1.]])
    """

    supports_masking = True
    _config_options = ("rate", "seed", "noise_shape")

    def __init__(
        self,
        rate: float,
        noise_shape: Sequence[int | None] | None = None,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.rate = _rate(rate)
        self.noise_shape = _noise_shape(noise_shape)
        self.seed = seed
        self._generator = None if seed is None else torch.Generator().manual_seed(int(seed))
        self.build_from_hint()

    def forward(self, inputs: Any, training: bool | None = None) -> torch.Tensor:
        x = as_input(inputs)
        training = self.training if training is None else bool(training)
        if not training or self.rate == 0.0:
            return x
        if self.rate == 1.0:
            return torch.zeros_like(x)
        keep = 1.0 - self.rate
        shape = self._mask_shape(x)
        probabilities = torch.full(shape, keep, dtype=x.dtype)
        if self._generator is None:
            kept = torch.bernoulli(probabilities.to(x.device))
        else:
            kept = torch.bernoulli(probabilities, generator=self._generator).to(x.device)
        return torch.where(kept.bool(), x / keep, torch.zeros_like(x))

    def _mask_shape(self, x: torch.Tensor) -> tuple[int, ...]:
        if self.noise_shape is None:
            return tuple(x.shape)
        if len(self.noise_shape) != x.dim():
            raise ShapeError(
                f"{self.name}: noise_shape={self.noise_shape} has {len(self.noise_shape)} axes; "
                f"expected {x.dim()}, one per axis of the inputs of shape {shape_str(x.shape)}."
            )
        shape = tuple(size if d is None else d for d, size in zip(self.noise_shape, x.shape))
        if any(d not in (1, size) for d, size in zip(shape, x.shape)):
            raise ShapeError(
                f"{self.name}: noise_shape={self.noise_shape} does not broadcast to the inputs of "
                f"shape {shape_str(x.shape)}; each entry must be None, 1 or the input's size."
            )
        return shape

    def compute_output_shape(self, input_shape: Any) -> Any:
        return tuple(input_shape)


def _rate(value: Any) -> float:
    try:
        return rate(value, "rate")
    except ConfigError:
        raise ConfigError(
            f"Invalid value received for argument `rate`: expected a float in [0, 1]. "
            f"Received: rate={value!r}"
        ) from None


def _noise_shape(value: Any) -> tuple[int | None, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        raise ConfigError(
            f"Argument `noise_shape` must be a tuple of integers or None. Received: {value!r}"
        )
    try:
        dims = tuple(value)
    except TypeError:
        raise ConfigError(
            f"Argument `noise_shape` must be a tuple of integers or None. Received: {value!r}"
        ) from None
    for index, dim in enumerate(dims):
        if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int) or dim <= 0):
            raise ConfigError(
                f"Argument `noise_shape` must hold positive integers or None; received "
                f"{dim!r} at index {index} of noise_shape={value!r}."
            )
    return dims


class SpatialDropout1D(Dropout):
    """Dropout of whole feature channels: a dropped feature is zero at every timestep.

    Args:
        rate: fraction of the features to drop per sample, in [0, 1].
        seed: seeds this layer's own generator, as for Dropout.

    Call:
        `layer(inputs, training=None)`; outside training the inputs pass through unchanged.

    Shapes:
        inputs `(samples, timesteps, features)`; output of the same shape; a mask passes
        through. The keep/drop mask has shape `(samples, 1, features)`.

    Keras differences: as Dropout's.

    Example:
        >>> layer = SpatialDropout1D(0.5, seed=0)
        >>> y = layer(torch.ones(2, 4, 3), training=True)
        >>> bool((y == y[:, :1]).all())  # the same channels at every timestep
        True
    """

    _config_options = ("rate", "seed")

    def __init__(self, rate: float, seed: int | None = None, **kwargs: Any) -> None:
        kwargs.pop("noise_shape", None)  # fixed by the layer, as in Keras
        super().__init__(rate, seed=seed, **kwargs)

    def forward(self, inputs: Any, training: bool | None = None) -> torch.Tensor:
        x = as_input(inputs)
        _check_timesteps(x.shape, self.name)
        return super().forward(x, training=training)

    def _mask_shape(self, x: torch.Tensor) -> tuple[int, ...]:
        return (x.shape[0], 1, x.shape[2])  # (samples, 1, features)

    def compute_output_shape(self, input_shape: Any) -> Any:
        _check_timesteps(tuple(input_shape), self.name)
        return tuple(input_shape)


def _check_timesteps(shape: Sequence[int | None], name: str) -> None:
    if len(shape) != 3:
        raise ShapeError(
            f"{name} expects inputs of shape (samples, timesteps, features); received input "
            f"shape {shape_str(shape)}. For other ranks use Dropout with a noise_shape."
        )
