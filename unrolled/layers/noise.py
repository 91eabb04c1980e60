"""`GaussianNoise` and `GaussianDropout`: noise in training, the identity in inference."""

from __future__ import annotations

import math
import numbers
from typing import Any

import torch

from unrolled.errors import ConfigError
from unrolled.layers.base import Layer
from unrolled.layers.coerce import as_input


class _Noise(Layer):
    """Draws from its own seeded CPU generator (the same draws on any device), or torch's."""

    supports_masking = True

    def _init_generator(self, seed: int | None) -> None:
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
            raise ConfigError(
                f"Argument `seed` must be an integer or None. Received: seed={seed!r}"
            )
        self.seed = None if seed is None else int(seed)
        self._generator = None if seed is None else torch.Generator().manual_seed(int(seed))

    def _normal(self, x: torch.Tensor) -> torch.Tensor:
        """Standard normal draws of `x`'s shape, dtype and device."""
        if self._generator is None:
            return torch.randn(x.shape, dtype=x.dtype, device=x.device)
        return torch.randn(x.shape, dtype=x.dtype, generator=self._generator).to(x.device)

    def _training(self, training: bool | None) -> bool:
        return self.training if training is None else bool(training)

    def compute_output_shape(self, input_shape: Any) -> tuple[int | None, ...]:
        """The input's shape."""
        return tuple(input_shape)


class GaussianNoise(_Noise):
    """Adds zero-mean Gaussian noise of standard deviation `stddev` in training.

    Args:
        stddev: the noise's standard deviation, in [0, 1] as Keras requires.
        seed: seeds this layer's own generator; None uses torch's global generator.

    Call:
        `layer(inputs, training=None)`; outside training the inputs pass through unchanged.

    Shapes:
        output has the input's shape; a mask passes through.

    Keras differences: `training=None` follows the module's `train()`/`eval()` mode, as
    Dropout does. The draws differ from Keras's (same distribution, other numbers).

    Example:
        >>> GaussianNoise(0.1).eval()(torch.ones(1, 2))
        tensor([[1., 1.]])
    """

    _config_options = ("stddev", "seed")

    def __init__(self, stddev: float, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stddev = _unit_interval(stddev, "stddev", closed=True)
        self._init_generator(seed)
        self.build_from_hint()

    def forward(self, inputs: Any, training: bool | None = None) -> torch.Tensor:
        x = as_input(inputs)
        if not self._training(training) or self.stddev == 0.0:
            return x
        return x + self.stddev * self._normal(x)


class GaussianDropout(_Noise):
    """Multiplies the inputs by Gaussian noise of mean 1 and variance `rate / (1 - rate)` in training.

    Args:
        rate: the drop probability of the Dropout this matches in mean and variance, in
            [0, 1).
        seed: seeds this layer's own generator; None uses torch's global generator.

    Call:
        `layer(inputs, training=None)`; outside training the inputs pass through unchanged.

    Shapes:
        output has the input's shape; a mask passes through.

    Keras differences: `training=None` follows the module's `train()`/`eval()` mode, as
    Dropout does. `rate=1` is refused here (Keras divides by zero at the first call).

    Example:
        >>> GaussianDropout(0.2).eval()(torch.ones(1, 2))
        tensor([[1., 1.]])
    """

    _config_options = ("rate", "seed")

    def __init__(self, rate: float, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rate = _unit_interval(rate, "rate", closed=False)
        self._init_generator(seed)
        self.build_from_hint()

    def forward(self, inputs: Any, training: bool | None = None) -> torch.Tensor:
        x = as_input(inputs)
        if not self._training(training) or self.rate == 0.0:
            return x
        stddev = math.sqrt(self.rate / (1.0 - self.rate))
        return x * (1.0 + stddev * self._normal(x))


def _unit_interval(value: Any, name: str, closed: bool) -> float:
    is_number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    number = float(value) if is_number else math.nan  # NaN fails both bounds
    if not (0.0 <= number <= 1.0 if closed else 0.0 <= number < 1.0):
        bounds = "[0, 1]" if closed else "[0, 1)"
        raise ConfigError(
            f"Invalid value received for argument `{name}`: expected a float in {bounds}. "
            f"Received: {name}={value!r}"
        )
    return number
