"""`Conv1D`, `Conv2D`, `Conv3D`: Keras's convolutions over 1, 2 or 3 channels-last axes.

One class, `_Conv`, holds the options and the weights for every rank; the subclasses set
`rank` and their Keras 1 names. The arithmetic (padding, output sizes, the torch call) is
`ops.convolution`'s.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch

from unrolled import activations, constraints, initializers, regularizers
from unrolled.compat import keras1_names
from unrolled.errors import ConfigError, ShapeError, positive_int, shape_str
from unrolled.layers.coerce import as_input, as_weight_input
from unrolled.layers.keras2_paths import keras2_names
from unrolled.layers.parameters import KernelLayer
from unrolled.ops.convolution import (
    AXES,
    as_tuple,
    check_spatial_input,
    check_window_fits,
    conv_channels_last,
    padding_amounts,
    steps_after_window,
)

__all__ = [
    "Conv1D",
    "Conv2D",
    "Conv3D",
    "Convolution1D",
    "Convolution2D",
    "Convolution3D",
    "channels_last_only",
    "check_steps_input",
    "padding_amounts",
    "single_int",
    "steps_after_window",
]

# Keras 1 argument names of the convolutions and their Keras 3 spelling.
_CONV_LEGACY = {
    "nb_filter": "filters",
    "border_mode": "padding",
    "init": "kernel_initializer",
    "W_regularizer": "kernel_regularizer",
    "b_regularizer": "bias_regularizer",
    "W_constraint": "kernel_constraint",
    "b_constraint": "bias_constraint",
    "bias": "use_bias",
}
_CONV1D_LEGACY = {**_CONV_LEGACY, "filter_length": "kernel_size", "subsample_length": "strides"}
_CONV_ND_LEGACY = {**_CONV_LEGACY, "subsample": "strides", "atrous_rate": "dilation_rate"}


def single_int(value: Any, argument: str) -> int:
    """A positive int from `value` or a 1-tuple of it, as Keras's `standardize_tuple`."""
    return as_tuple(value, 1, argument)[0]


def check_steps_input(shape: Sequence[Any], layer: str) -> None:
    """Raises ShapeError unless `shape` is `(samples, timesteps, features)`."""
    check_spatial_input(shape, 1, layer)


def channels_last_only(data_format: Any, layer: str, rank: int = 1) -> str:
    """Refuses `channels_first`: our inputs are channels-last, as Keras's default."""
    if data_format in (None, "channels_last"):
        return "channels_last"
    fix = (
        "Permute((2, 1)) or x.transpose(1, 2)"
        if rank == 1
        else f"Permute(({', '.join(str(a) for a in range(2, rank + 2))}, 1)) or x.movedim(1, -1)"
    )
    raise ConfigError(
        f"{layer}: only data_format='channels_last' (inputs {AXES[rank]}) is supported; "
        f"received data_format={data_format!r}. Transpose the inputs with {fix} and use the "
        "default."
    )


class _Conv(KernelLayer):
    """`activation(conv(inputs, kernel) + bias)` over `rank` channels-last axes."""

    rank: ClassVar[int]
    supports_masking = False
    _config_options = (
        "filters",
        "kernel_size",
        "strides",
        "padding",
        "data_format",
        "dilation_rate",
        "groups",
    )

    def __init__(
        self,
        filters: int,
        kernel_size: int | Sequence[int],
        strides: int | Sequence[int] = 1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: int | Sequence[int] = 1,
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
        rank = self.rank
        self.filters = positive_int(filters, "filters")
        self.kernel_size = as_tuple(kernel_size, rank, "kernel_size")
        self.strides = as_tuple(strides, rank, "strides")
        self.dilation_rate = as_tuple(dilation_rate, rank, "dilation_rate")
        self.groups = positive_int(groups, "groups")
        self.data_format = channels_last_only(data_format, type(self).__name__, rank)
        padding = str(padding).lower()
        modes = ("valid", "same", "causal") if rank == 1 else ("valid", "same")
        if padding not in modes:
            raise ConfigError(
                f"Argument `padding` must be one of {', '.join(repr(m) for m in modes)} for "
                f"{type(self).__name__}. Received: padding={padding!r}"
            )
        self.padding = padding
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
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
        check_spatial_input(shape, self.rank, self.name)
        self._check_channels(shape)
        self.input_features = int(shape[-1])  # type: ignore[arg-type]
        # (*kernel_size, channels // groups, filters): Keras's layout.
        kernel_shape = (*self.kernel_size, self.input_features // self.groups, self.filters)
        self._add_kernel_and_bias(kernel_shape, self.filters)
        self.built = True
        self._apply_trainable()

    def _check_channels(self, shape: tuple[Any, ...]) -> None:
        what = "features" if self.rank == 1 else "channels"
        channels = shape[-1]
        if channels is None or channels % self.groups:
            raise ShapeError(
                f"{self.name} needs a known {what} axis divisible by groups={self.groups}; "
                f"received input shape {shape_str(shape)}."
            )
        if self.built and channels != self.input_features:
            raise ShapeError(
                f"{self.name} expected inputs with {self.input_features} {what} on the last "
                f"axis; received input shape {shape_str(shape)}."
            )

    def _build_from_weights(self, weights: Sequence[Any]) -> None:
        if not weights or np.ndim(weights[0]) != self.rank + 2:
            super()._build_from_weights(weights)
        channels = int(np.shape(weights[0])[-2]) * self.groups
        self.build((None, *(None,) * self.rank, channels))

    def forward(self, inputs: Any) -> torch.Tensor:
        x = as_input(inputs)
        check_spatial_input(x.shape, self.rank, self.name)
        self.ensure_built(x)
        self._check_channels(tuple(x.shape))
        check_window_fits(
            self.name, x.shape, self.padding, self.kernel_size, self.strides, self.dilation_rate
        )
        x = as_weight_input(x, self.kernel, self.name)
        y = conv_channels_last(
            x,
            self.kernel,
            self.bias,
            self.strides,
            self.dilation_rate,
            self.groups,
            self.padding,
        )  # (samples, *new_spatial, filters)
        return self.activation(y)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """None: Keras 3's convolutions do not carry a mask on."""
        return None

    def compute_output_shape(self, input_shape: Any) -> tuple[int | None, ...]:
        """`(samples, *new_spatial, filters)`, as Keras's."""
        shape = tuple(input_shape)
        check_spatial_input(shape, self.rank, self.name)
        self._check_channels(shape)
        sizes = check_window_fits(
            self.name, shape, self.padding, self.kernel_size, self.strides, self.dilation_rate
        )
        return (shape[0], *sizes, self.filters)


class Conv1D(_Conv):
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
        activation, use_bias: as `Dense`'s.
        kernel_initializer, bias_initializer: as `Dense`'s.
        kernel_regularizer, bias_regularizer, activity_regularizer: as `Dense`'s.
        kernel_constraint, bias_constraint: as `Dense`'s.
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

    rank = 1
    __init__ = keras1_names(_CONV1D_LEGACY)(_Conv.__init__)


class Convolution1D(Conv1D):
    """Keras 1's name of `Conv1D` (Keras 2 kept it as an alias): the same layer and config.

    A subclass rather than a second name, so that saved models record the class the user
    wrote and the registry finds it under that name.

    Example:
        >>> Convolution1D(4, 3)(torch.zeros(2, 10, 8)).shape
        torch.Size([2, 8, 4])
    """


class Conv2D(_Conv):
    """`output = activation(conv2d(inputs, kernel) + bias)` over rows and columns.

    Args: as `Conv1D`'s, with `kernel_size`, `strides` and `dilation_rate` an int or a pair
    `(rows, cols)`, and `padding` "valid" or "same" (Keras has no 2-D "causal"). Keras 1
    names (`nb_filter`, `border_mode`, `subsample`, `init`, ...) are accepted with a
    DeprecationWarning; `Convolution2D` is Keras 1's name, which also takes `nb_row, nb_col`.

    Weights:
        `kernel (kernel_rows, kernel_cols, channels // groups, filters)`, then
        `bias (filters,)`: Keras's.

    Shapes:
        inputs `(samples, rows, cols, channels)`; output
        `(samples, new_rows, new_cols, filters)`. For a sequence of images
        `(samples, timesteps, rows, cols, channels)`, wrap it: `TimeDistributed(Conv2D(...))`.

    Raises:
        ConfigError: for data_format="channels_first" or options Keras refuses.
        ShapeError: for inputs of another rank or channels not divisible by `groups`.

    Example:
        >>> Conv2D(4, 3)(torch.zeros(2, 10, 8, 3)).shape
        torch.Size([2, 8, 6, 4])
        >>> Conv2D(4, (3, 2), strides=2, padding="same")(torch.zeros(2, 10, 7, 3)).shape
        torch.Size([2, 5, 4, 4])
    """

    rank = 2
    __init__ = keras1_names(_CONV_ND_LEGACY)(_Conv.__init__)


class Conv3D(_Conv):
    """`output = activation(conv3d(inputs, kernel) + bias)` over depth, rows and columns.

    Args: as `Conv2D`'s, with triples `(depth, rows, cols)`.

    Weights:
        `kernel (kernel_depth, kernel_rows, kernel_cols, channels // groups, filters)`, then
        `bias (filters,)`: Keras's.

    Shapes:
        inputs `(samples, depth, rows, cols, channels)`; output
        `(samples, new_depth, new_rows, new_cols, filters)`.

    Example:
        >>> Conv3D(4, 3)(torch.zeros(2, 5, 6, 7, 3)).shape
        torch.Size([2, 3, 4, 5, 4])
    """

    rank = 3
    __init__ = keras1_names(_CONV_ND_LEGACY)(_Conv.__init__)


def _keras1_kernel(
    layer: str, args: tuple[Any, ...], kwargs: dict[str, Any], axes: tuple[str, ...]
) -> tuple[Any, ...]:
    """Keras 1's `(nb_filter, nb_row, nb_col)` → `(filters, (rows, cols))`, as Keras 2 read it.

    The window's sizes come positionally after `nb_filter`, the rest by their Keras 1 names;
    anything else is left for Keras 3's signature.
    """
    positional = list(args[1:])
    named = [a for a in axes[len(positional) :] if a in kwargs]
    if len(positional) + len(named) != len(axes) or not named and len(positional) < len(axes):
        return args
    window = positional + [kwargs.pop(a) for a in named]
    if not all(isinstance(v, int) for v in window):
        return args
    sizes = ", ".join(map(str, window))
    warnings.warn(
        f"{layer}: `{', '.join(axes)}` are Keras 1's kernel size; Keras 3 takes "
        f"kernel_size=({sizes}) (and would read a third positional argument as strides).",
        DeprecationWarning,
        stacklevel=4,  # the user's call, past init and keras1_names
    )
    if "kernel_size" in kwargs:
        raise ConfigError(f"{layer}: give `kernel_size` or the Keras 1 `{axes[0]}`..., not both.")
    kwargs["kernel_size"] = tuple(window)
    return args[:1]


_VAR_KEYWORD = inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD)


def _keras1_kernel_init(axes: tuple[str, ...]) -> Any:
    """An `__init__` reading Keras 1's kernel sizes (`axes`), then Keras 1's other names."""

    def init(self: _Conv, *args: Any, **kwargs: Any) -> None:
        args = _keras1_kernel(type(self).__name__, args, kwargs, axes)
        _Conv.__init__(self, *args, **kwargs)

    keras3 = inspect.signature(_Conv.__init__)
    # keras1_names refuses a Keras 1 name whose Keras 3 argument came positionally; here
    # only `filters` can (the window's sizes come next and are read above, not as strides).
    init.__signature__ = keras3.replace(  # type: ignore[attr-defined]
        parameters=[*list(keras3.parameters.values())[:2], _VAR_KEYWORD]
    )
    renamed = keras1_names(_CONV_ND_LEGACY)(init)
    renamed.__signature__ = keras3  # for layer_repr and the docs
    return renamed


class Convolution2D(Conv2D):
    """Keras 1's name of `Conv2D`: the same layer and config.

    Keras 1's positional `Convolution2D(nb_filter, nb_row, nb_col)` (or `nb_row=`, `nb_col=`)
    is read as `Conv2D(nb_filter, (nb_row, nb_col))` with a DeprecationWarning, as Keras 2
    read it.

    Example:
        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore", DeprecationWarning)
        ...     layer = Convolution2D(4, 3, 3)
        >>> layer.kernel_size
        (3, 3)
    """

    __init__ = _keras1_kernel_init(("nb_row", "nb_col"))


class Convolution3D(Conv3D):
    """Keras 1's name of `Conv3D`, reading `(nb_filter, kernel_dim1, kernel_dim2, kernel_dim3)`.

    Example:
        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore", DeprecationWarning)
        ...     layer = Convolution3D(4, 3, 3, 3)
        >>> layer.kernel_size
        (3, 3, 3)
    """

    __init__ = _keras1_kernel_init(("kernel_dim1", "kernel_dim2", "kernel_dim3"))


# Keras 2's `keras.layers.convolutional` held the 1-D resizing layers and the poolings too;
# they live in their own modules (which import this one) and are found when first read.
__getattr__ = keras2_names(__name__)
