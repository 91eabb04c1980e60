"""`ActivityRegularization`: the identity, adding an L1/L2 penalty of its inputs to the loss."""

from __future__ import annotations

import numbers
from typing import Any

import torch

from unrolled.errors import ConfigError
from unrolled.layers.base import Layer
from unrolled.layers.coerce import as_input
from unrolled.regularizers import L1L2


class ActivityRegularization(Layer):
    """Passes its inputs on and penalizes them: `(l1 * sum(|x|) + l2 * sum(x ** 2)) / samples`.

    It is a layer with `activity_regularizer=L1L2(l1, l2)`, as in Keras: the penalty of the
    last call is kept in `activity_losses`; `regularization_losses()` of this layer, and of
    any model holding it, includes it, so `fit` adds it to the loss (and to the loss it
    reports). Keras divides it by the batch size, and so do we.

    Args:
        l1: the L1 factor (non-negative).
        l2: the L2 factor (non-negative).

    Shapes:
        output is the input; a mask passes through.

    Example:
        >>> layer = ActivityRegularization(l1=0.1)
        >>> _ = layer(torch.tensor([[1.0, -2.0], [3.0, 0.0]]))
        >>> layer.regularization_losses()  # 0.1 * 6 / 2 samples
        [tensor(0.3000)]
    """

    supports_masking = True

    def __init__(self, l1: float = 0.0, l2: float = 0.0, **kwargs: Any) -> None:
        kwargs.pop("activity_regularizer", None)  # Keras's own config never holds it
        l1, l2 = _factor(l1, "l1"), _factor(l2, "l2")
        # As Keras: a layer whose activity regularizer does the work (Layer.__call__).
        super().__init__(activity_regularizer=L1L2(l1=l1, l2=l2), **kwargs)
        self.l1, self.l2 = l1, l2
        self.build_from_hint()

    def forward(self, inputs: Any) -> torch.Tensor:
        return as_input(inputs)

    def compute_output_shape(self, input_shape: Any) -> tuple[int | None, ...]:
        """The input's shape."""
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        config = {**super().get_config(), "l1": self.l1, "l2": self.l2}
        config.pop("activity_regularizer", None)
        return config


def _factor(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or value < 0:
        raise ConfigError(
            f"Argument `{name}` must be a non-negative number. Received: {name}={value!r}"
        )
    return float(value)
