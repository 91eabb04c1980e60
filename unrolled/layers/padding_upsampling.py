"""`ZeroPadding1D` and `UpSampling1D`: more timesteps, by zeros at the ends or by repeats."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from unrolled.errors import ConfigError, positive_int
from unrolled.layers.base import Layer
from unrolled.layers.coerce import as_input
from unrolled.layers.convolutional import channels_last_only, check_steps_input

__all__ = ["UpSampling1D", "ZeroPadding1D"]


class ZeroPadding1D(Layer):
    """Adds `padding[0]` zero timesteps before the first and `padding[1]` after the last.

    Args:
        padding: an int (the same at both ends) or `(start, end)`, non-negative.
        data_format: "channels_last" only.

    Shapes:
        inputs `(samples, timesteps, features)`; output
        `(samples, start + timesteps + end, features)`. A mask coming in is dropped with a
        warning, as Keras 3 drops it.

    Example:
        >>> ZeroPadding1D((1, 2))(torch.ones(1, 2, 1)).squeeze(-1)
        tensor([[0., 1., 1., 0., 0.]])
    """

    _config_options = ("padding", "data_format")

    def __init__(
        self, padding: int | tuple[int, int] = 1, data_format: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        pair = (padding, padding) if isinstance(padding, int) else tuple(padding)
        if len(pair) != 2 or any(
            isinstance(p, bool) or not isinstance(p, int) or p < 0 for p in pair
        ):
            raise ConfigError(
                "Argument `padding` must be an int or a pair of non-negative ints. "
                f"Received: padding={padding!r}"
            )
        self.padding: tuple[int, int] = (int(pair[0]), int(pair[1]))
        self.data_format = channels_last_only(data_format, type(self).__name__)
        self.build_from_hint()

    def forward(self, inputs: Any) -> torch.Tensor:
        x = as_input(inputs)
        check_steps_input(x.shape, self.name)
        # F.pad lists the last axis first: features (0, 0), then timesteps.
        return F.pad(x, (0, 0, *self.padding))  # (samples, start + timesteps + end, features)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return None

    def compute_output_shape(self, input_shape: Any) -> tuple[int | None, ...]:
        shape = tuple(input_shape)
        check_steps_input(shape, self.name)
        steps = None if shape[1] is None else shape[1] + sum(self.padding)
        return (shape[0], steps, shape[2])


class UpSampling1D(Layer):
    """Repeats every timestep `size` times: `[a, b]` becomes `[a, a, b, b]` for size 2.

    Args:
        size: how many times each timestep appears in the output.

    Shapes:
        inputs `(samples, timesteps, features)`; output
        `(samples, size * timesteps, features)`. A mask coming in is dropped with a
        warning, as Keras 3 drops it.

    Example:
        >>> UpSampling1D(2)(torch.tensor([[[1.0], [2.0]]])).squeeze(-1)
        tensor([[1., 1., 2., 2.]])
    """

    _config_options = ("size",)

    def __init__(self, size: int = 2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.size = positive_int(size, "size")
        self.build_from_hint()

    def forward(self, inputs: Any) -> torch.Tensor:
        x = as_input(inputs)
        check_steps_input(x.shape, self.name)
        return x.repeat_interleave(self.size, dim=1)  # (samples, size * timesteps, features)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return None

    def compute_output_shape(self, input_shape: Any) -> tuple[int | None, ...]:
        shape = tuple(input_shape)
        check_steps_input(shape, self.name)
        steps = None if shape[1] is None else self.size * shape[1]
        return (shape[0], steps, shape[2])
