"""1-D pooling over timesteps: windowed (`MaxPooling1D`, `AveragePooling1D`) and global."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from unrolled.compat import keras1_names
from unrolled.errors import ConfigError
from unrolled.layers.base import Layer
from unrolled.layers.coerce import as_input
from unrolled.layers.convolutional import (
    channels_last_only,
    check_steps_input,
    padding_amounts,
    single_int,
    steps_after_window,
)

__all__ = [
    "AveragePooling1D",
    "GlobalAveragePooling1D",
    "GlobalMaxPooling1D",
    "MaxPooling1D",
]

# Keras 1 argument names of the pooling layers and their Keras 3 spelling.
_POOLING_LEGACY = {"pool_length": "pool_size", "stride": "strides", "border_mode": "padding"}


class _Pooling1D(Layer):
    """Windows of `pool_size` timesteps, `strides` apart, reduced per feature."""

    @keras1_names(_POOLING_LEGACY)
    def __init__(
        self,
        pool_size: int | tuple[int] = 2,
        strides: int | tuple[int] | None = None,
        padding: str = "valid",
        data_format: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.pool_size = single_int(pool_size, "pool_size")
        self.strides = self.pool_size if strides is None else single_int(strides, "strides")
        padding = str(padding).lower()
        if padding not in ("valid", "same"):
            raise ConfigError(
                f"Argument `padding` must be 'valid' or 'same'. Received: padding={padding!r}"
            )
        self.padding = padding
        self.data_format = channels_last_only(data_format, type(self).__name__)
        self.build_from_hint()

    def forward(self, inputs: Any) -> torch.Tensor:
        x = as_input(inputs)
        check_steps_input(x.shape, self.name)
        before, after = padding_amounts(self.padding, x.shape[1], self.pool_size, self.strides)
        x = x.transpose(1, 2)  # (samples, features, timesteps)
        y = self._pool(x, before, after)  # (samples, features, new timesteps)
        return y.transpose(1, 2)  # (samples, new timesteps, features)

    def _pool(self, x: torch.Tensor, before: int, after: int) -> torch.Tensor:
        raise NotImplementedError

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return None

    def compute_output_shape(self, input_shape: Any) -> tuple[int | None, ...]:
        shape = tuple(input_shape)
        check_steps_input(shape, self.name)
        steps = steps_after_window(shape[1], self.padding, self.pool_size, self.strides)
        return (shape[0], steps, shape[2])

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "pool_size": (self.pool_size,),
            "strides": (self.strides,),
            "padding": self.padding,
            "data_format": self.data_format,
        }


class MaxPooling1D(_Pooling1D):
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

    def _pool(self, x: torch.Tensor, before: int, after: int) -> torch.Tensor:
        x = F.pad(x, (before, after), value=float("-inf"))  # (samples, features, padded steps)
        return F.max_pool1d(x, self.pool_size, self.strides)


class AveragePooling1D(_Pooling1D):
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

    def _pool(self, x: torch.Tensor, before: int, after: int) -> torch.Tensor:
        ones = torch.ones_like(x[:1, :1])  # (1, 1, timesteps): which steps are real
        total = F.avg_pool1d(F.pad(x, (before, after)), self.pool_size, self.strides)
        real = F.avg_pool1d(F.pad(ones, (before, after)), self.pool_size, self.strides)
        return total / real  # (samples, features, new timesteps)


class _GlobalPooling1D(Layer):
    """One value per feature over all timesteps."""

    def __init__(
        self, data_format: str | None = None, keepdims: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.data_format = channels_last_only(data_format, type(self).__name__)
        self.keepdims = bool(keepdims)
        self.build_from_hint()

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return None  # the timesteps axis is gone

    def compute_output_shape(self, input_shape: Any) -> tuple[int | None, ...]:
        shape = tuple(input_shape)
        check_steps_input(shape, self.name)
        return (shape[0], 1, shape[2]) if self.keepdims else (shape[0], shape[2])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


class GlobalAveragePooling1D(_GlobalPooling1D):
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

    supports_masking = True

    def forward(self, inputs: Any, mask: Any = None) -> torch.Tensor:
        x = as_input(inputs)
        check_steps_input(x.shape, self.name)
        if mask is None:
            return x.mean(dim=1, keepdim=self.keepdims)
        valid = torch.as_tensor(mask, device=x.device).bool().unsqueeze(-1)  # (samples, steps, 1)
        total = torch.where(valid, x, torch.zeros_like(x)).sum(dim=1, keepdim=self.keepdims)
        # A sample with no valid step gives 0 / 0 = nan, as Keras's.
        return total / valid.to(x.dtype).sum(dim=1, keepdim=self.keepdims)


class GlobalMaxPooling1D(_GlobalPooling1D):
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

    def forward(self, inputs: Any) -> torch.Tensor:
        x = as_input(inputs)
        check_steps_input(x.shape, self.name)
        return x.amax(dim=1, keepdim=self.keepdims)
