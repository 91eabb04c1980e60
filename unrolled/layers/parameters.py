"""`add_weight` for layers outside the cell hierarchy (Dense, Conv1D, Embedding), as Keras's,
and `KernelLayer`, the kernel-and-bias options Dense and Conv1D share."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import nn

from unrolled import activations, constraints, initializers, regularizers
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


class KernelLayer(Layer):
    """A layer with Keras's `kernel` and optional `bias`, and the options that go with them."""

    def _init_kernel_options(
        self,
        activation: Any,
        use_bias: bool,
        kernel_initializer: Any,
        bias_initializer: Any,
        kernel_regularizer: Any,
        bias_regularizer: Any,
        kernel_constraint: Any,
        bias_constraint: Any,
    ) -> None:
        self.activation = activations.get(activation, "activation")
        self.use_bias = bool(use_bias)
        # Initializers are checked now and drawn at build time.
        initializers.get(kernel_initializer, "kernel_initializer")
        initializers.get(bias_initializer, "bias_initializer")
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        # Applied by the training loop through Layer.regularization_losses/apply_constraints.
        self.kernel_regularizer = regularizers.get(kernel_regularizer, "kernel_regularizer")
        self.bias_regularizer = regularizers.get(bias_regularizer, "bias_regularizer")
        self.kernel_constraint = constraints.get(kernel_constraint, "kernel_constraint")
        self.bias_constraint = constraints.get(bias_constraint, "bias_constraint")
        self.input_features: int | None = None
        self.kernel: nn.Parameter
        self.bias: nn.Parameter | None

    def _add_kernel_and_bias(self, kernel_shape: tuple[int, ...], units: int) -> None:
        """Makes `kernel` of `kernel_shape` and, with `use_bias`, `bias (units,)`."""
        add_weight(self, "kernel", kernel_shape, self.kernel_initializer, "kernel_initializer")
        if self.use_bias:
            add_weight(self, "bias", (units,), self.bias_initializer, "bias_initializer")
        else:
            self.register_parameter("bias", None)

    def get_config(self) -> dict[str, Any]:
        """The layer's own options (`_config_options`), then the kernel-and-bias ones."""
        return {
            **super().get_config(),
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": self.kernel_initializer,
            "bias_initializer": self.bias_initializer,
            "kernel_regularizer": self.kernel_regularizer,
            "bias_regularizer": self.bias_regularizer,
            "kernel_constraint": self.kernel_constraint,
            "bias_constraint": self.bias_constraint,
        }

    @property
    def weights(self) -> list[nn.Parameter]:
        """`[kernel(, bias)]`: Keras's order."""
        if not self.built:
            return []
        return [self.kernel] + ([self.bias] if self.bias is not None else [])
