"""Window arithmetic and channels-last convolution and pooling over 1, 2 or 3 spatial axes.

Keras lays data out channels-last, `(samples, *spatial, channels)`; torch's `conv{1,2,3}d`
and pools want `(samples, channels, *spatial)`. These functions move the channels axis,
pad as Keras's "same"/"causal" modes pad (the odd zero after), run the torch op and move
the axis back. The layers in `layers/convolutional.py` and `layers/pooling.py` (and the
convolutional recurrent layers) call them; nothing here knows about layers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from unrolled.errors import ConfigError, ShapeError, positive_int, shape_str

__all__ = [
    "AXES",
    "as_tuple",
    "check_spatial_input",
    "check_window_fits",
    "conv_channels_first",
    "conv_channels_last",
    "output_sizes",
    "padding_amounts",
    "pool_channels_last",
    "spatial_padding",
    "steps_after_window",
    "torch_conv_weight",
]

#: The axes of a channels-last input with 1, 2 or 3 spatial axes, in our words.
AXES = {
    1: "(samples, timesteps, features)",
    2: "(samples, rows, cols, channels)",
    3: "(samples, depth, rows, cols, channels)",
}

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_MAX_POOL = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
_AVG_POOL = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


def as_tuple(value: Any, rank: int, argument: str) -> tuple[int, ...]:
    """`rank` positive ints from an int or a sequence of `rank` ints, as Keras's `standardize_tuple`.

    Example:
        >>> as_tuple(3, 2, "kernel_size"), as_tuple((1, 2), 2, "strides")
        ((3, 3), (1, 2))
    """
    if isinstance(value, (tuple, list)):
        if len(value) != rank:
            raise ConfigError(
                f"Argument `{argument}` must be an int or a tuple of {rank} int"
                f"{'s' if rank > 1 else ''} for a {rank}-D layer. Received: {argument}={value!r}"
            )
        return tuple(positive_int(v, argument) for v in value)
    return (positive_int(value, argument),) * rank


def padding_amounts(
    padding: str, steps: int, window: int, stride: int, dilation: int = 1
) -> tuple[int, int]:
    """Zeros `(before, after)` one axis of `steps` for Keras's `padding` mode.

    "same" pads `dilation * (window - 1)` in all at stride 1, enough for `ceil(steps / stride)`
    outputs otherwise; the odd one goes after, as Keras (and TensorFlow) put it.

    Example:
        >>> padding_amounts("same", 5, 4, 1), padding_amounts("causal", 5, 3, 1, dilation=2)
        ((1, 2), (4, 0))
    """
    span = dilation * (window - 1) + 1  # the window's reach in steps
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
    """Output steps of a window op along one axis of `steps` (None: unknown), as Keras's.

    Example:
        >>> steps_after_window(10, "valid", 3, 2), steps_after_window(10, "same", 3, 4)
        (4, 3)
    """
    if steps is None:
        return None
    span = dilation * (window - 1) + 1
    if padding == "same":
        return -(-steps // stride)
    if padding == "causal":
        steps = steps + span - 1
    return max(0, (steps - span) // stride + 1)


def spatial_padding(
    padding: str,
    sizes: Sequence[int],
    windows: Sequence[int],
    strides: Sequence[int],
    dilations: Sequence[int] | None = None,
) -> list[tuple[int, int]]:
    """`padding_amounts` for every spatial axis: `[(before, after), ...]` in axis order."""
    dilations = dilations or (1,) * len(sizes)
    return [
        padding_amounts(padding, int(n), k, s, d)
        for n, k, s, d in zip(sizes, windows, strides, dilations, strict=True)
    ]


def output_sizes(
    sizes: Sequence[int | None],
    padding: str,
    windows: Sequence[int],
    strides: Sequence[int],
    dilations: Sequence[int] | None = None,
) -> tuple[int | None, ...]:
    """`steps_after_window` for every spatial axis."""
    dilations = dilations or (1,) * len(sizes)
    return tuple(
        steps_after_window(n, padding, k, s, d)
        for n, k, s, d in zip(sizes, windows, strides, dilations, strict=True)
    )


def check_window_fits(
    layer: str,
    shape: Sequence[Any],
    padding: str,
    windows: Sequence[int],
    strides: Sequence[int],
    dilations: Sequence[int] | None = None,
) -> tuple[int | None, ...]:
    """The output's spatial sizes; ShapeError where a window is larger than its padded axis
    (torch would fail inside its kernel, Keras says the output size would be negative)."""
    sizes = output_sizes(tuple(shape)[1:-1], padding, windows, strides, dilations)
    if any(size == 0 for size in sizes):
        raise ShapeError(
            f"{layer}: inputs of shape {shape_str(tuple(shape))} are smaller than the window "
            f"{tuple(windows)}"
            + (f" (dilation {tuple(dilations)})" if dilations and max(dilations) > 1 else "")
            + f" with padding={padding!r}, so no output step remains. Use padding='same', a "
            "smaller window, or longer inputs."
        )
    return sizes


def check_spatial_input(shape: Sequence[Any], rank: int, layer: str) -> None:
    """Raises ShapeError unless `shape` has `rank` spatial axes between samples and channels."""
    if len(shape) != rank + 2:
        raise ShapeError(
            f"{layer} expects inputs of shape {AXES[rank]}; received a {len(shape)}-D input of "
            f"shape {shape_str(tuple(shape))}."
            + (
                " To apply it at every timestep, wrap it in TimeDistributed(...)."
                if len(shape) == rank + 3
                else ""
            )
        )


def _channels_first(x: torch.Tensor) -> torch.Tensor:
    # (samples, *spatial, channels) -> (samples, channels, *spatial)
    return x.movedim(-1, 1)


def _channels_last(y: torch.Tensor) -> torch.Tensor:
    # (samples, channels, *spatial) -> (samples, *spatial, channels)
    return y.movedim(1, -1)


def _torch_pad(pads: Sequence[tuple[int, int]]) -> tuple[int, ...]:
    # F.pad lists the last axis first.
    return tuple(amount for pair in reversed(pads) for amount in pair)


def torch_conv_weight(kernel: torch.Tensor) -> torch.Tensor:
    """Keras's `(*window, in, out)` kernel as torch's `(out, in, *window)`: a view."""
    rank = kernel.dim() - 2
    return kernel.permute(rank + 1, rank, *range(rank))


def conv_channels_first(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    strides: Sequence[int],
    dilations: Sequence[int],
    padding: str,
    groups: int = 1,
) -> torch.Tensor:
    """torch's convolution of `x (samples, channels, *spatial)`, padded as Keras's `padding`.

    Args:
        weight: torch's layout, `(filters, channels // groups, *window)`.
        padding: "valid", "same" or "causal" (1-D only).

    Returns:
        `(samples, filters, *new_spatial)`.
    """
    rank = x.dim() - 2
    pads = spatial_padding(padding, x.shape[2:], weight.shape[2:], strides, dilations)
    if all(before == after for before, after in pads):
        symmetric = [before for before, _ in pads]  # torch pads both sides itself
    else:
        x, symmetric = F.pad(x, _torch_pad(pads)), [0] * rank
    # torch's arguments: input, weight, bias, stride, padding, dilation, groups
    return _CONV[rank](x, weight, bias, tuple(strides), tuple(symmetric), tuple(dilations), groups)


def conv_channels_last(
    x: torch.Tensor,
    kernel: torch.Tensor,
    bias: torch.Tensor | None,
    strides: Sequence[int],
    dilations: Sequence[int],
    groups: int,
    padding: str,
) -> torch.Tensor:
    """Keras's convolution: `x (samples, *spatial, channels)` with a Keras-layout kernel.

    Args:
        kernel: `(*window, channels // groups, filters)`, Keras's layout.
        padding: "valid", "same" or "causal" (1-D only).

    Returns:
        `(samples, *new_spatial, filters)`.
    """
    weight = torch_conv_weight(kernel)  # (filters, channels // groups, *window)
    y = conv_channels_first(
        _channels_first(x), weight, bias, strides, dilations, padding, groups
    )  # (samples, filters, *new_spatial)
    return _channels_last(y)


def pool_channels_last(
    x: torch.Tensor, kind: str, windows: Sequence[int], strides: Sequence[int], padding: str
) -> torch.Tensor:
    """Keras's max or average pooling of `x (samples, *spatial, channels)`.

    Padding never wins a max and is never counted in an average: a window reaching past
    the edge averages the real values it covers, Keras's documented rule.

    Returns:
        `(samples, *new_spatial, channels)`.
    """
    if not x.is_floating_point():
        if kind == "max":  # exact in float64 below 2**53; the result keeps the input's type
            return pool_channels_last(x.double(), kind, windows, strides, padding).to(x.dtype)
        x = x.to(torch.get_default_dtype())  # a mean of integers is a float, as in Keras
    pads = spatial_padding(padding, x.shape[1:-1], windows, strides)
    x = _channels_first(x)  # (samples, channels, *spatial)
    rank = len(windows)
    if kind == "max":
        if any(before or after for before, after in pads):
            x = F.pad(x, _torch_pad(pads), value=float("-inf"))
        y = _MAX_POOL[rank](x, tuple(windows), tuple(strides))
        return _channels_last(y)
    if not any(before or after for before, after in pads):
        return _channels_last(_AVG_POOL[rank](x, tuple(windows), tuple(strides)))
    real = torch.ones_like(x[:1, :1])  # (1, 1, *spatial): which positions are real
    total = _AVG_POOL[rank](F.pad(x, _torch_pad(pads)), tuple(windows), tuple(strides))
    count = _AVG_POOL[rank](F.pad(real, _torch_pad(pads)), tuple(windows), tuple(strides))
    return _channels_last(total / count)  # (samples, *new_spatial, channels)
