"""Pooling over 1, 2 or 3 channels-last axes: windowed (`MaxPooling2D`, ...) and global.

One class per kind holds the options for every rank; the subclasses set `rank`. The window
arithmetic and the torch calls are `ops.convolution`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch

from unrolled.compat import keras1_names
from unrolled.errors import ConfigError
from unrolled.layers.base import Layer
from unrolled.layers.coerce import as_input
from unrolled.layers.convolutional import channels_last_only
from unrolled.ops.convolution import (
    as_tuple,
    check_spatial_input,
    check_window_fits,
    pool_channels_last,
)
from unrolled.ops.masks import check_step_mask

__all__ = [
    "AvgPool1D",
    "AvgPool2D",
    "AvgPool3D",
    "GlobalAvgPool1D",
    "GlobalAvgPool2D",
    "GlobalAvgPool3D",
    "GlobalMaxPool1D",
    "GlobalMaxPool2D",
    "GlobalMaxPool3D",
    "MaxPool1D",
    "MaxPool2D",
    "MaxPool3D",
    "AveragePooling1D",
    "AveragePooling2D",
    "AveragePooling3D",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalAveragePooling3D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "GlobalMaxPooling3D",
    "MaxPooling1D",
    "MaxPooling2D",
    "MaxPooling3D",
]

# Keras 1 argument names of the pooling layers and their Keras 3 spelling.
_POOLING_LEGACY = {"pool_length": "pool_size", "stride": "strides", "border_mode": "padding"}


class _Pooling(Layer):
    """Windows of `pool_size`, `strides` apart, reduced per channel by `kind`."""

    rank: ClassVar[int]
    kind: ClassVar[str]  # "max" or "average"
    _config_options = ("pool_size", "strides", "padding", "data_format")

    def __init__(
        self,
        pool_size: int | Sequence[int] = 2,
        strides: int | Sequence[int] | None = None,
        padding: str = "valid",
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.pool_size = as_tuple(pool_size, self.rank, "pool_size")
        self.strides = (
            self.pool_size if strides is None else as_tuple(strides, self.rank, "strides")
        )
        padding = str(padding).lower()
        if padding not in ("valid", "same"):
            raise ConfigError(
                f"Argument `padding` must be 'valid' or 'same'. Received: padding={padding!r}"
            )
        self.padding = padding
        self.data_format = channels_last_only(data_format, type(self).__name__, self.rank)
        self.build_from_hint()

    def forward(self, inputs: Any) -> torch.Tensor:
        x = as_input(inputs)
        check_spatial_input(x.shape, self.rank, self.name)
        check_window_fits(self.name, x.shape, self.padding, self.pool_size, self.strides)
        # (samples, *new_spatial, channels)
        return pool_channels_last(x, self.kind, self.pool_size, self.strides, self.padding)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return None

    def compute_output_shape(self, input_shape: Any) -> tuple[int | None, ...]:
        shape = tuple(input_shape)
        check_spatial_input(shape, self.rank, self.name)
        sizes = check_window_fits(self.name, shape, self.padding, self.pool_size, self.strides)
        return (shape[0], *sizes, shape[-1])


_POOLING_INIT = keras1_names(_POOLING_LEGACY)(_Pooling.__init__)


class MaxPooling1D(_Pooling):
    """The largest value of each window of `pool_size` timesteps, per feature.

    Args:
        pool_size: the window, in timesteps.
        strides: the step between windows; None: `pool_size`.
        padding: "valid" (windows inside the input) or "same" (`ceil(timesteps / strides)`
            windows; padding never wins the max).
        data_format: "channels_last" only.
        **kwargs: passed to `Layer`; Keras 1's `pool_length`, `stride`, `border_mode` are
            accepted with a DeprecationWarning.

    Shapes:
        inputs `(samples, timesteps, features)`; output `(samples, new_timesteps, features)`.
        A mask coming in is dropped with a warning, as Keras 3 drops it.

    Example:
        >>> MaxPooling1D(2)(torch.tensor([[[1.0], [3.0], [2.0], [0.0]]])).squeeze(-1)
        tensor([[3., 2.]])
    """

    rank, kind = 1, "max"
    __init__ = _POOLING_INIT


class AveragePooling1D(_Pooling):
    """The mean of each window of `pool_size` timesteps, per feature.

    Args: as `MaxPooling1D`'s. With padding="same", a window that reaches past the ends
    averages the timesteps it covers only: padding is not counted, as in Keras.

    Shapes:
        inputs `(samples, timesteps, features)`; output `(samples, new_timesteps, features)`.

    Keras differences: Keras 3 on the torch backend pads an uneven "same" window by
    repeating the edge timestep and counts it; we follow Keras's documented rule (and its
    TensorFlow and JAX backends), which counts the real timesteps only.

    Example:
        >>> AveragePooling1D(2)(torch.tensor([[[1.0], [3.0], [2.0], [0.0]]])).squeeze(-1)
        tensor([[2., 1.]])
    """

    rank, kind = 1, "average"
    __init__ = _POOLING_INIT


class MaxPooling2D(_Pooling):
    """The largest value of each `pool_size` window of rows and columns, per channel.

    Args: as `MaxPooling1D`'s, with `pool_size` and `strides` an int or a pair
    `(rows, cols)`; the default window is `(2, 2)`.

    Shapes:
        inputs `(samples, rows, cols, channels)`; output
        `(samples, new_rows, new_cols, channels)`.

    Example:
        >>> MaxPooling2D()(torch.zeros(2, 6, 5, 3)).shape
        torch.Size([2, 3, 2, 3])
        >>> MaxPooling2D(padding="same")(torch.zeros(2, 6, 5, 3)).shape
        torch.Size([2, 3, 3, 3])
    """

    rank, kind = 2, "max"
    __init__ = _POOLING_INIT


class AveragePooling2D(_Pooling):
    """The mean of each `pool_size` window of rows and columns, per channel.

    Args: as `MaxPooling2D`'s; with padding="same" the padding is not counted.

    Shapes:
        inputs `(samples, rows, cols, channels)`; output
        `(samples, new_rows, new_cols, channels)`.

    Keras differences: as `AveragePooling1D`'s, for an uneven "same" window.

    Example:
        >>> AveragePooling2D()(torch.ones(1, 4, 4, 1)).squeeze(-1)
        tensor([[[1., 1.],
                 [1., 1.]]])
    """

    rank, kind = 2, "average"
    __init__ = _POOLING_INIT


class MaxPooling3D(_Pooling):
    """The largest value of each `pool_size` window of depth, rows and columns, per channel.

    Shapes:
        inputs `(samples, depth, rows, cols, channels)`; output
        `(samples, new_depth, new_rows, new_cols, channels)`.

    Example:
        >>> MaxPooling3D()(torch.zeros(2, 4, 6, 5, 3)).shape
        torch.Size([2, 2, 3, 2, 3])
    """

    rank, kind = 3, "max"
    __init__ = _POOLING_INIT


class AveragePooling3D(_Pooling):
    """The mean of each `pool_size` window of depth, rows and columns, per channel.

    Shapes:
        inputs `(samples, depth, rows, cols, channels)`; output
        `(samples, new_depth, new_rows, new_cols, channels)`.

    Example:
        >>> AveragePooling3D()(torch.zeros(2, 4, 6, 5, 3)).shape
        torch.Size([2, 2, 3, 2, 3])
    """

    rank, kind = 3, "average"
    __init__ = _POOLING_INIT


def _as_float(x: torch.Tensor) -> torch.Tensor:
    # A mean of integers is a float (the default type), as Keras's global average gives.
    return x if x.is_floating_point() else x.to(torch.get_default_dtype())


class _GlobalPooling(Layer):
    """One value per channel over all spatial axes."""

    rank: ClassVar[int]
    _config_options = ("data_format", "keepdims")

    def __init__(
        self, data_format: str | None = None, keepdims: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.data_format = channels_last_only(data_format, type(self).__name__, self.rank)
        self.keepdims = bool(keepdims)
        self.build_from_hint()

    @property
    def _spatial(self) -> tuple[int, ...]:
        return tuple(range(1, self.rank + 1))

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return None  # the spatial axes are gone

    def compute_output_shape(self, input_shape: Any) -> tuple[int | None, ...]:
        shape = tuple(input_shape)
        check_spatial_input(shape, self.rank, self.name)
        if self.keepdims:
            return (shape[0], *(1,) * self.rank, shape[-1])
        return (shape[0], shape[-1])


class _GlobalMaxPooling(_GlobalPooling):
    def forward(self, inputs: Any) -> torch.Tensor:
        x = as_input(inputs)
        check_spatial_input(x.shape, self.rank, self.name)
        return x.amax(dim=self._spatial, keepdim=self.keepdims)  # (samples, channels)


class _GlobalAveragePooling(_GlobalPooling):
    def forward(self, inputs: Any) -> torch.Tensor:
        x = _as_float(as_input(inputs))
        check_spatial_input(x.shape, self.rank, self.name)
        return x.mean(dim=self._spatial, keepdim=self.keepdims)  # (samples, channels)


class GlobalAveragePooling1D(_GlobalAveragePooling):
    """The mean over timesteps, of the unmasked timesteps only when a mask comes in.

    Args:
        data_format: "channels_last" only.
        keepdims: keep the timesteps axis, of size 1.

    Shapes:
        inputs `(samples, timesteps, features)` and an optional mask `(samples, timesteps)`;
        output `(samples, features)`, or `(samples, 1, features)` with keepdims.

    Example:
        >>> x = torch.tensor([[[1.0], [3.0], [8.0]]])
        >>> GlobalAveragePooling1D()(x, mask=torch.tensor([[True, True, False]]))
        tensor([[2.]])
    """

    rank = 1
    supports_masking = True

    def forward(self, inputs: Any, mask: Any = None) -> torch.Tensor:
        x = _as_float(as_input(inputs))
        check_spatial_input(x.shape, 1, self.name)
        if mask is None:
            return x.mean(dim=1, keepdim=self.keepdims)
        check_step_mask(mask, x, self.name)
        valid = torch.as_tensor(mask, device=x.device).bool().unsqueeze(-1)  # (samples, steps, 1)
        total = torch.where(valid, x, torch.zeros_like(x)).sum(dim=1, keepdim=self.keepdims)
        # A sample with no valid step gives 0 / 0 = nan, as Keras's.
        return total / valid.to(x.dtype).sum(dim=1, keepdim=self.keepdims)


class GlobalMaxPooling1D(_GlobalMaxPooling):
    """The largest value over timesteps, per feature.

    Args: as `GlobalAveragePooling1D`'s.

    Shapes:
        inputs `(samples, timesteps, features)`; output `(samples, features)`, or
        `(samples, 1, features)` with keepdims. A mask coming in is dropped with a warning
        and the max is over all timesteps, as Keras 3's (it does not support masking).

    Example:
        >>> GlobalMaxPooling1D()(torch.tensor([[[1.0], [3.0], [2.0]]]))
        tensor([[3.]])
    """

    rank = 1


class GlobalAveragePooling2D(_GlobalAveragePooling):
    """The mean over rows and columns, per channel.

    Args:
        data_format: "channels_last" only.
        keepdims: keep the rows and cols axes, of size 1.

    Shapes:
        inputs `(samples, rows, cols, channels)`; output `(samples, channels)`, or
        `(samples, 1, 1, channels)` with keepdims.

    Example:
        >>> GlobalAveragePooling2D()(torch.ones(2, 4, 3, 5)).shape
        torch.Size([2, 5])
    """

    rank = 2


class GlobalMaxPooling2D(_GlobalMaxPooling):
    """The largest value over rows and columns, per channel.

    Args: as `GlobalAveragePooling2D`'s.

    Shapes:
        inputs `(samples, rows, cols, channels)`; output `(samples, channels)`, or
        `(samples, 1, 1, channels)` with keepdims.

    Example:
        >>> GlobalMaxPooling2D(keepdims=True)(torch.ones(2, 4, 3, 5)).shape
        torch.Size([2, 1, 1, 5])
    """

    rank = 2


class GlobalAveragePooling3D(_GlobalAveragePooling):
    """The mean over depth, rows and columns, per channel.

    Shapes:
        inputs `(samples, depth, rows, cols, channels)`; output `(samples, channels)`, or
        `(samples, 1, 1, 1, channels)` with keepdims.

    Example:
        >>> GlobalAveragePooling3D()(torch.ones(2, 3, 4, 3, 5)).shape
        torch.Size([2, 5])
    """

    rank = 3


class GlobalMaxPooling3D(_GlobalMaxPooling):
    """The largest value over depth, rows and columns, per channel.

    Shapes:
        inputs `(samples, depth, rows, cols, channels)`; output `(samples, channels)`, or
        `(samples, 1, 1, 1, channels)` with keepdims.

    Example:
        >>> GlobalMaxPooling3D()(torch.ones(2, 3, 4, 3, 5)).shape
        torch.Size([2, 5])
    """

    rank = 3


def _short_name(cls: type[Layer], name: str) -> type[Layer]:
    # A subclass rather than a second name for the class, as Convolution1D: a saved model
    # records the name the user wrote, and the registry finds the class under it.
    doc = f"""Keras's short name of `{cls.__name__}`: the same layer, options and config."""
    return type(name, (cls,), {"__doc__": doc, "__module__": __name__})


MaxPool1D = _short_name(MaxPooling1D, "MaxPool1D")
MaxPool2D = _short_name(MaxPooling2D, "MaxPool2D")
MaxPool3D = _short_name(MaxPooling3D, "MaxPool3D")
AvgPool1D = _short_name(AveragePooling1D, "AvgPool1D")
AvgPool2D = _short_name(AveragePooling2D, "AvgPool2D")
AvgPool3D = _short_name(AveragePooling3D, "AvgPool3D")
GlobalMaxPool1D = _short_name(GlobalMaxPooling1D, "GlobalMaxPool1D")
GlobalMaxPool2D = _short_name(GlobalMaxPooling2D, "GlobalMaxPool2D")
GlobalMaxPool3D = _short_name(GlobalMaxPooling3D, "GlobalMaxPool3D")
GlobalAvgPool1D = _short_name(GlobalAveragePooling1D, "GlobalAvgPool1D")
GlobalAvgPool2D = _short_name(GlobalAveragePooling2D, "GlobalAvgPool2D")
GlobalAvgPool3D = _short_name(GlobalAveragePooling3D, "GlobalAvgPool3D")
