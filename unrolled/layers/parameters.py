"""`add_weight` for layers outside the cell hierarchy (Dense, Embedding), as Keras's."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from unrolled import initializers
from unrolled.layers.base import Layer


def add_weight(
    layer: Layer, name: str, shape: Sequence[int], initializer: Any, argument: str
) -> nn.Parameter:
    """Creates, registers and returns `layer.<name>` drawn from `initializer`.

    A rebuild (a layer built for one feature size and then fed another) replaces the
    parameter in place and keeps it on the device and dtype the old one had.

    Args:
        layer: the layer that owns the weight.
        name: the Keras weight name (`kernel`, `bias`, `embeddings`).
        shape: the Keras layout, e.g. `(input_dim, units)`.
        initializer: a Keras initializer name or a callable `f(shape)`.
        argument: the constructor argument that named the initializer, for errors.
    """
    init = initializers.get(initializer, argument)
    value = initializers.initial_value(init, shape, argument)
    old = layer._parameters.get(name)
    reference = old if old is not None else next(layer.parameters(), None)
    if reference is not None:
        value = value.to(device=reference.device, dtype=reference.dtype)
    elif layer.variable_dtype is not None:
        value = value.to(layer.variable_dtype)
    parameter = nn.Parameter(value, requires_grad=layer.trainable)
    layer.register_parameter(name, parameter)
    return parameter
