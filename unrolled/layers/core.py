"""`Dense` and `Activation`: Keras's core layers on the last axis of any rank.

Keras 2's `keras.layers.core` also held Dropout, SpatialDropout1D, ActivityRegularization,
Flatten, Reshape, RepeatVector, Lambda and Masking; they live in their own modules and are
re-exported here so that `from keras.layers.core import Dense, Dropout` code runs with only
its import changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from unrolled import activations, constraints, initializers, regularizers
from unrolled.compat import keras1_names
from unrolled.errors import ShapeError, positive_int, shape_str
from unrolled.layers.activity_regularization import ActivityRegularization
from unrolled.layers.base import Layer
from unrolled.layers.coerce import as_input, as_weight_input, check_rank
from unrolled.layers.dropout import Dropout, SpatialDropout1D
from unrolled.layers.keras2_paths import keras2_names
from unrolled.layers.lambda_layer import Lambda
from unrolled.layers.masking import Masking
from unrolled.layers.parameters import KernelLayer
from unrolled.layers.reshaping import Flatten, RepeatVector, Reshape

__all__ = [
    "Activation",
    "ActivityRegularization",
    "Dense",
    "Dropout",
    "Flatten",
    "Lambda",
    "Masking",
    "RepeatVector",
    "Reshape",
    "SpatialDropout1D",
]

# Keras 1 argument names of Dense and their Keras 3 spelling (Keras 3 refuses the old ones).
_DENSE_LEGACY = {
    "output_dim": "units",
    "init": "kernel_initializer",
    "W_regularizer": "kernel_regularizer",
    "b_regularizer": "bias_regularizer",
    "W_constraint": "kernel_constraint",
    "b_constraint": "bias_constraint",
    "bias": "use_bias",
}


class Dense(KernelLayer):
    """`output = activation(inputs @ kernel + bias)` on the last axis.

    Args:
        units: size of the last axis of the output.
        activation: a Keras activation name or a callable; None is linear.
        use_bias: add the `bias` vector.
        kernel_initializer, bias_initializer: Keras initializer names or callables.
        kernel_regularizer, bias_regularizer, kernel_constraint, bias_constraint: stored
            for the training loop, which applies them.
        **kwargs: passed to `Layer`. Keras 1 names (`output_dim`, `init`, `W_regularizer`,
            `b_regularizer`, `W_constraint`, `b_constraint`, `bias`) are accepted with a
            DeprecationWarning.

    Weights:
        `kernel (features, units)`, then `bias (units,)`: Keras's names, layout and order.

    Shapes:
        inputs `(samples, ..., features)`; output `(samples, ..., units)`. On
        `(samples, timesteps, features)` it acts on every timestep with the same weights.

    Example:
        >>> Dense(4)(torch.zeros(2, 3)).shape
        torch.Size([2, 4])
        >>> Dense(1)(torch.zeros(2, 10, 8)).shape
        torch.Size([2, 10, 1])
    """

    supports_masking = True
    _config_options = ("units",)

    @keras1_names(_DENSE_LEGACY)
    def __init__(
        self,
        units: int,
        activation: activations.ActivationArg = None,
        use_bias: bool = True,
        kernel_initializer: initializers.InitializerArg = "glorot_uniform",
        bias_initializer: initializers.InitializerArg = "zeros",
        kernel_regularizer: regularizers.RegularizerArg = None,
        bias_regularizer: regularizers.RegularizerArg = None,
        activity_regularizer: regularizers.RegularizerArg = None,
        kernel_constraint: constraints.ConstraintArg = None,
        bias_constraint: constraints.ConstraintArg = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.units = positive_int(units, "units")
        self._init_kernel_options(
            activation,
            use_bias,
            kernel_initializer,
            bias_initializer,
            kernel_regularizer,
            bias_regularizer,
            kernel_constraint,
            bias_constraint,
        )
        self.build_from_hint()

    def build(self, input_shape: Sequence[int | None]) -> None:
        shape = tuple(input_shape)
        if any(isinstance(axis, (tuple, list)) for axis in shape):  # several tensors' shapes
            raise ShapeError(
                f"{self.name}: Dense takes one input of shape (samples, ..., features); "
                f"received several, of shapes {', '.join(map(str, shape))} (a layer before it "
                "returns a list, e.g. Bidirectional(merge_mode=None): merge them first)."
            )
        if len(shape) < 2 or shape[-1] is None:
            raise ShapeError(
                f"{self.name}: Dense needs inputs of shape (samples, ..., features) with a known "
                f"features axis; received input shape {shape_str(shape)}."
            )
        self.input_features = int(shape[-1])
        self._add_kernel_and_bias((self.input_features, self.units), self.units)
        self.built = True
        self._apply_trainable()

    def _build_from_weights(self, weights: Sequence[Any]) -> None:
        if not weights or np.ndim(weights[0]) != 2:
            super()._build_from_weights(weights)
        self.build((None, int(np.shape(weights[0])[0])))

    def forward(self, inputs: Any) -> torch.Tensor:
        x = as_input(inputs)
        check_rank(x, self.name, 2, "(samples, ..., features)")
        self.ensure_built(x)
        if x.shape[-1] != self.input_features:
            raise ShapeError(
                f"{self.name} expected inputs with {self.input_features} features on the last axis; "
                f"received inputs of shape {shape_str(x.shape)} with {x.shape[-1]}."
            )
        x = as_weight_input(x, self.kernel, self.name)
        y = x @ self.kernel  # (samples, ..., units)
        if self.bias is not None:
            y = y + self.bias
        return self.activation(y)

    def compute_output_shape(self, input_shape: Any) -> tuple[int | None, ...]:
        """`input_shape` with the last axis replaced by `units`."""
        shape = tuple(input_shape)
        if len(shape) < 2:
            raise ShapeError(
                f"{self.name} expects inputs of shape (samples, ..., features); received input "
                f"shape {shape_str(shape)}."
            )
        if self.built and shape[-1] is not None and shape[-1] != self.input_features:
            raise ShapeError(
                f"{self.name} expected inputs with {self.input_features} features on the last axis; "
                f"received input shape {shape_str(shape)}."
            )
        return (*shape[:-1], self.units)


class Activation(Layer):
    """Applies an activation function by Keras name (`"relu"`, `"softmax"`, ...) or callable.

    Shapes:
        output has the input's shape; a mask passes through.

    Example:
        >>> Activation("relu")(torch.tensor([[-1.0, 2.0]]))
        tensor([[0., 2.]])
    """

    supports_masking = True

    def __init__(self, activation: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.activation = activations.get(activation, "activation")
        self.build_from_hint()

    def forward(self, inputs: Any) -> torch.Tensor:
        return self.activation(as_input(inputs))

    def compute_output_shape(self, input_shape: Any) -> Any:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "activation": activations.serialize(self.activation)}


# Keras 2's `keras.layers.core` held layers defined elsewhere here; found when first read.
__getattr__ = keras2_names(__name__)
