"""`Conv1D`: Keras's 1-D convolution over timesteps, computed by `torch.nn.functional.conv1d`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from unrolled import activations, constraints, initializers, regularizers
from unrolled.compat import keras1_names
from unrolled.errors import ConfigError, ShapeError, positive_int, shape_str
from unrolled.layers.coerce import as_input, as_weight_input
from unrolled.layers.parameters import KernelLayer, add_weight

__all__ = ["Conv1D", "Convolution1D", "padding_amounts", "steps_after_window", "single_int"]

# Keras 1 argument names of Convolution1D and their Keras 3 spelling.
_CONV1D_LEGACY = {
    "nb_filter": "filters",
    "filter_length": "kernel_size",
    "border_mode": "padding",
    "subsample_length": "strides",
    "init": "kernel_initializer",
    "W_regularizer": "kernel_regularizer",
    "b_regularizer": "bias_regularizer",
    "W_constraint": "kernel_constraint",
    "b_constraint": "bias_constraint",
    "bias": "use_bias",
}


def single_int(value: Any, argument: str) -> int:
    """A positive int from `value` or a 1-tuple of it, as Keras's `standardize_tuple`."""
    if isinstance(value, (tuple, list)):
        if len(value) != 1:
            raise ConfigError(
                f"Argument `{argument}` must be an int or a tuple of 1 int for a 1-D layer. "
                f"Received: {argument}={value!r}"
            )
        value = value[0]
    return positive_int(value, argument)


def padding_amounts(
    padding: str, steps: int, window: int, stride: int, dilation: int = 1
) -> tuple[int, int]:
    """Zeros `(before, after)` the timesteps for Keras's `padding` mode.

    "same" pads `dilation * (window - 1)` in all at stride 1, enough for `ceil(steps / stride)`
    outputs otherwise; the odd one goes after, as Keras (and TensorFlow) put it.
    """
    span = dilation * (window - 1) + 1  # the window's reach in timesteps
    if padding == "causal":
        return span - 1, 0
    if padding == "valid":
        return 0, 0
    outputs = -(-steps // stride)
    total = max(0, (outputs - 1) * stride + span - steps)
    return total // 2, total - total // 2


def steps_after_window(
    steps: int | None, padding: str, window: int, stride: int, dilation: int = 1
) -> int | None:
    """Output timesteps of a window op over `steps` (None: unknown), as Keras computes them."""
    if steps is None:
        return None
    span = dilation * (window - 1) + 1
    if padding == "same":
        return -(-steps // stride)
    if padding == "causal":
        steps = steps + span - 1
    return max(0, (steps - span) // stride + 1)


def check_steps_input(shape: Sequence[Any], layer: str) -> None:
    """Raises ShapeError unless `shape` is `(samples, timesteps, features)`."""
    if len(shape) != 3:
        raise ShapeError(
            f"{layer} expects inputs of shape (samples, timesteps, features); received a "
            f"{len(shape)}-D input of shape {shape_str(tuple(shape))}."
        )


def channels_last_only(data_format: Any, layer: str) -> str:
    """Refuses `channels_first`: our sequences are `(samples, timesteps, features)`."""
    if data_format in (None, "channels_last"):
        return "channels_last"
    raise ConfigError(
        f"{layer}: only data_format='channels_last' (inputs (samples, timesteps, features)) is "
        f"supported; received data_format={data_format!r}. Transpose the inputs with "
        "Permute((2, 1)) or x.transpose(1, 2) and use the default."
    )


class Conv1D(KernelLayer):
    """`output = activation(conv1d(inputs, kernel) + bias)` along the timesteps axis.

    Args:
        filters: features of the output (the number of kernels).
        kernel_size: the window, in timesteps.
        strides: the step between windows.
        padding: "valid" (no padding), "same" (zeros so that `ceil(timesteps / strides)` steps
            come out) or "causal" (zeros before the first step only, so that `output[t]` never
            sees `inputs[t + 1:]`).
        data_format: "channels_last" only.
        dilation_rate: the gap between the window's taps; Keras refuses it above 1 with
            strides above 1, and so do we.
        groups: split features and filters into this many independent convolutions.
        activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
            bias_regularizer, activity_regularizer, kernel_constraint, bias_constraint: as
            `Dense`'s.
        **kwargs: passed to `Layer`. Keras 1 names (`nb_filter`, `filter_length`,
            `border_mode`, `subsample_length`, `init`, `W_regularizer`, ...) are accepted with
            a DeprecationWarning; `Convolution1D` is Keras 1's name of this class.

    Weights:
        `kernel (kernel_size, features // groups, filters)`, then `bias (filters,)`: Keras's.

    Shapes:
        inputs `(samples, timesteps, features)`; output `(samples, new_timesteps, filters)`.
        A mask coming in is dropped with a warning, as Keras 3's Conv1D drops it.

    Raises:
        ConfigError: for data_format="channels_first" or options Keras refuses.
        ShapeError: for inputs of another rank or features not divisible by `groups`.

    Example:
        >>> Conv1D(4, 3)(torch.zeros(2, 10, 8)).shape
        torch.Size([2, 8, 4])
        >>> Conv1D(4, 3, padding="causal", dilation_rate=2)(torch.zeros(2, 10, 8)).shape
        torch.Size([2, 10, 4])
    """

    supports_masking = False

    @keras1_names(_CONV1D_LEGACY)
    def __init__(
        self,
        filters: int,
        kernel_size: int | tuple[int],
        strides: int | tuple[int] = 1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: int | tuple[int] = 1,
        groups: int = 1,
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
        self.filters = positive_int(filters, "filters")
        self.kernel_size = single_int(kernel_size, "kernel_size")
        self.strides = single_int(strides, "strides")
        self.dilation_rate = single_int(dilation_rate, "dilation_rate")
        self.groups = positive_int(groups, "groups")
        self.data_format = channels_last_only(data_format, type(self).__name__)
        padding = str(padding).lower()
        if padding not in ("valid", "same", "causal"):
            raise ConfigError(
                "Argument `padding` must be 'valid', 'same' or 'causal'. "
                f"Received: padding={padding!r}"
            )
        self.padding = padding
        if self.strides > 1 and self.dilation_rate > 1:
            raise ConfigError(
                f"{self.name}: strides > 1 is incompatible with dilation_rate > 1, as in Keras. "
                f"Received: strides={self.strides}, dilation_rate={self.dilation_rate}"
            )
        if self.filters % self.groups:
            raise ConfigError(
                f"{self.name}: filters must be divisible by groups. Received: "
                f"filters={self.filters}, groups={self.groups}"
            )
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
        check_steps_input(shape, self.name)
        self._check_features(shape)
        self.input_features = int(shape[-1])  # type: ignore[arg-type]
        kernel_shape = (self.kernel_size, self.input_features // self.groups, self.filters)
        add_weight(self, "kernel", kernel_shape, self.kernel_initializer, "kernel_initializer")
        if self.use_bias:
            add_weight(self, "bias", (self.filters,), self.bias_initializer, "bias_initializer")
        else:
            self.register_parameter("bias", None)
        self.built = True
        self._apply_trainable()

    def _check_features(self, shape: tuple[Any, ...]) -> None:
        features = shape[-1]
        if features is None or features % self.groups:
            raise ShapeError(
                f"{self.name} needs a known features axis divisible by groups={self.groups}; "
                f"received input shape {shape_str(shape)}."
            )
        if self.built and features != self.input_features:
            raise ShapeError(
                f"{self.name} expected inputs with {self.input_features} features on the last "
                f"axis; received input shape {shape_str(shape)}."
            )

    def _build_from_weights(self, weights: Sequence[Any]) -> None:
        if not weights or np.ndim(weights[0]) != 3:
            super()._build_from_weights(weights)
        self.build((None, None, int(np.shape(weights[0])[1]) * self.groups))

    def forward(self, inputs: Any) -> torch.Tensor:
        x = as_input(inputs)
        check_steps_input(x.shape, self.name)
        self.ensure_built(x)
        self._check_features(tuple(x.shape))
        x = as_weight_input(x, self.kernel, self.name)
        before, after = padding_amounts(
            self.padding, x.shape[1], self.kernel_size, self.strides, self.dilation_rate
        )
        x = F.pad(x.transpose(1, 2), (before, after))  # (samples, features, padded timesteps)
        weight = self.kernel.permute(2, 1, 0)  # (filters, features // groups, kernel_size)
        y = F.conv1d(
            x,
            weight,
            self.bias,
            stride=self.strides,
            dilation=self.dilation_rate,
            groups=self.groups,
        )  # (samples, filters, new timesteps)
        return self.activation(y.transpose(1, 2))  # (samples, new timesteps, filters)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """None: Keras 3's Conv1D does not carry a mask on."""
        return None

    def compute_output_shape(self, input_shape: Any) -> tuple[int | None, ...]:
        """`(samples, new_timesteps, filters)`, as Keras's."""
        shape = tuple(input_shape)
        check_steps_input(shape, self.name)
        self._check_features(shape)
        steps = steps_after_window(
            shape[1], self.padding, self.kernel_size, self.strides, self.dilation_rate
        )
        return (shape[0], steps, self.filters)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": (self.kernel_size,),
            "strides": (self.strides,),
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": (self.dilation_rate,),
            "groups": self.groups,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": self.kernel_initializer,
            "bias_initializer": self.bias_initializer,
            "kernel_regularizer": self.kernel_regularizer,
            "bias_regularizer": self.bias_regularizer,
            "kernel_constraint": self.kernel_constraint,
            "bias_constraint": self.bias_constraint,
        }


class Convolution1D(Conv1D):
    """Keras 1's name of `Conv1D` (Keras 2 kept it as an alias): the same layer and config.

    A subclass rather than a second name, so that saved models record the class the user
    wrote and the registry finds it under that name.

    Example:
        >>> Convolution1D(4, 3)(torch.zeros(2, 10, 8)).shape
        torch.Size([2, 8, 4])
    """
