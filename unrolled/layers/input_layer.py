"""`Input(shape)`: the symbolic start of a model definition."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from unrolled import compat
from unrolled.errors import ConfigError, positive_int
from unrolled.layers.base import Layer
from unrolled.layers.symbolic import Node, SymbolicTensor


class InputLayer(Layer):
    """Holds a model input's batch shape; passes data through unchanged."""

    def __init__(self, batch_shape: Sequence[int | None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.batch_shape = tuple(batch_shape)
        self.built = True

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs

    def compute_output_shape(self, input_shape: Any) -> Any:
        return self.batch_shape


def Input(  # noqa: N802 - Keras's name for a function that returns a tensor
    shape: Sequence[int | None] | None = None,
    batch_size: int | None = None,
    name: str | None = None,
    dtype: Any = None,
    batch_shape: Sequence[int | None] | None = None,
    **kwargs: Any,
) -> SymbolicTensor:
    """A symbolic input of `shape` per sample (the samples axis is added in front).

    Args:
        shape: per-sample shape, e.g. `(timesteps, features)`; None for a variable size.
        batch_size: fixes the samples axis (stateful models need it).
        batch_shape: the full shape including the samples axis, instead of the two above.

    Example:
        >>> Input((10, 3)).shape
        (None, 10, 3)
    """
    if kwargs:
        raise ConfigError(f"Unrecognized keyword arguments passed to Input: {kwargs}")
    if batch_shape is None:
        if shape is None:
            raise ConfigError(
                "Input needs `shape=` (per sample) or `batch_shape=` (with the samples axis)."
            )
        shape = compat.as_shape(shape, "shape")
        if batch_size is not None:
            batch_size = positive_int(batch_size, "batch_size")
        batch_shape = (batch_size, *shape)
    else:
        batch_shape = compat.as_shape(batch_shape, "batch_shape")
    layer = InputLayer(batch_shape, name=name)
    node = Node(layer, (), {})
    node.outputs = [SymbolicTensor(layer.batch_shape, node, 0, dtype=_torch_dtype(dtype))]
    return node.outputs[0]


def _torch_dtype(dtype: Any) -> torch.dtype | None:
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    try:
        return getattr(torch, str(dtype))
    except AttributeError:
        raise ConfigError(f"Unknown dtype for Input: {dtype!r}") from None
