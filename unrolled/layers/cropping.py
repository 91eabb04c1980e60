"""`Cropping1D`: drops timesteps at the start and end (many-to-many of the last N steps)."""

from __future__ import annotations

from typing import Any

import torch

from unrolled.errors import ConfigError, ShapeError, shape_str
from unrolled.layers.base import Layer
from unrolled.layers.coerce import as_input


class Cropping1D(Layer):
    """Removes `cropping[0]` timesteps from the start and `cropping[1]` from the end.

    Args:
        cropping: an int (the same at both ends) or `(start, end)`.

    Shapes:
        inputs `(samples, timesteps, features)`; output
        `(samples, timesteps - start - end, features)`.

    Example:
        >>> Cropping1D((2, 0))(torch.zeros(4, 5, 3)).shape
        torch.Size([4, 3, 3])
    """

    _config_options = ("cropping",)

    def __init__(self, cropping: int | tuple[int, int] = (1, 1), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        pair = (cropping, cropping) if isinstance(cropping, int) else tuple(cropping)
        if len(pair) != 2 or any(
            isinstance(c, bool) or not isinstance(c, int) or c < 0 for c in pair
        ):
            raise ConfigError(
                f"Argument `cropping` must be an int or a pair of non-negative ints. Received: cropping={cropping!r}"
            )
        self.cropping: tuple[int, int] = (int(pair[0]), int(pair[1]))
        self.build_from_hint()

    def forward(self, inputs: Any) -> torch.Tensor:
        x = as_input(inputs)
        self._check(tuple(x.shape))
        start, end = self.cropping
        return x[:, start : x.shape[1] - end]  # (samples, kept timesteps, features)

    def compute_output_shape(self, input_shape: Any) -> tuple[int | None, ...]:
        shape = tuple(input_shape)
        self._check(shape)
        length = None if shape[1] is None else shape[1] - sum(self.cropping)
        return (shape[0], length, shape[2])

    def _check(self, shape: tuple[int | None, ...]) -> None:
        if len(shape) != 3:
            raise ShapeError(
                f"{self.name} expects inputs of shape (samples, timesteps, features); received "
                f"{shape_str(shape)}."
            )
        if shape[1] is not None and sum(self.cropping) >= shape[1]:
            raise ShapeError(
                f"{self.name}: cropping={self.cropping} removes {sum(self.cropping)} timesteps, but "
                f"the inputs have {shape[1]} (shape {shape_str(shape)}); at least one must remain."
            )
