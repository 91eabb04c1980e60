"""ONNX nodes for the convolution and pooling family and the 1-D resizing layers.

Our layers are channels-last, `(samples, *spatial, channels)`; ONNX's `Conv`, `MaxPool`,
`AveragePool` and global pools are channels-first. Each layer becomes Transpose → the ONNX
operator → Transpose back. Keras's "same" is ONNX's `auto_pad="SAME_UPPER"` (the odd zero
after, as Keras puts it), "causal" explicit zeros before; padding never counts in an
average (`count_include_pad=0`), as Keras's documented rule.

`TimeDistributed` around any of these folds `(samples, timesteps)` into one axis with
`Reshape`, reading the sizes from the tensor (`Shape`), so both stay dynamic.

Each function takes the exporter (`onnx_export._Exporter`: its graph `g`, its `activation`
and `layer` methods), the layer and its input `Value`, and returns the output `Value`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from unrolled.interop.onnx_graph import Value, weight_array
from unrolled.layers.convolutional import Conv1D, Conv2D, Conv3D
from unrolled.layers.cropping import Cropping1D
from unrolled.layers.padding_upsampling import UpSampling1D, ZeroPadding1D
from unrolled.layers.pooling import (
    AveragePooling1D,
    AveragePooling2D,
    AveragePooling3D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalAveragePooling3D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    GlobalMaxPooling3D,
    MaxPooling1D,
    MaxPooling2D,
    MaxPooling3D,
)
from unrolled.ops.convolution import output_sizes, padding_amounts

_INT64_MAX = np.iinfo(np.int64).max


def _to_channels_first(exporter: Any, x: Value, hint: str) -> str:
    rank = x.rank - 2
    perm = [0, rank + 1, *range(1, rank + 1)]  # (samples, channels, *spatial)
    return exporter.g.op("Transpose", [x.name], f"{hint}/to_channels_first", perm=perm)


def _to_channels_last(exporter: Any, name: str, rank: int, hint: str) -> str:
    perm = [0, *range(2, rank + 2), 1]  # (samples, *spatial, channels)
    return exporter.g.op("Transpose", [name], f"{hint}/to_channels_last", perm=perm)


def _sizes(shape: tuple[Any, ...]) -> tuple[int | None, ...]:
    return tuple(d if isinstance(d, int) else None for d in shape)


def _window_attributes(
    padding: str,
    window: tuple[int, ...],
    strides: tuple[int, ...],
    dilations: tuple[int, ...] | None = None,
) -> dict[str, Any]:
    """ONNX's `pads` or `auto_pad` for Keras's `padding`.

    At stride 1 the zeros do not depend on the input's size (`dilation * (window - 1)` in
    all), so they are written out: onnxruntime refuses SAME_UPPER with dilation, which Keras
    allows only at stride 1. Larger strides take SAME_UPPER.
    """
    dilations = dilations or (1,) * len(window)
    if padding == "same" and any(s > 1 for s in strides):
        return {"auto_pad": "SAME_UPPER"}
    # The input size only matters for "same" at a stride above 1, handled above.
    pairs = [padding_amounts(padding, 1, k, 1, d) for k, d in zip(window, dilations, strict=True)]
    return {"pads": [before for before, _ in pairs] + [after for _, after in pairs]}


def convolution(exporter: Any, layer: Any, x: Value) -> Value:
    """Conv1D/2D/3D: Transpose, `Conv` (Keras's kernel moved to ONNX's layout), Transpose."""
    g, name, rank = exporter.g, layer.name, layer.rank
    kernel = weight_array(layer.kernel)  # (*window, channels // groups, filters)
    weight = np.transpose(kernel, (rank + 1, rank, *range(rank)))  # (filters, in, *window)
    inputs = [_to_channels_first(exporter, x, name), g.const(weight, f"{name}/kernel")]
    if layer.use_bias:
        inputs.append(g.const(weight_array(layer.bias), f"{name}/bias"))
    y = g.op(
        "Conv",
        inputs,
        f"{name}/conv",
        kernel_shape=list(layer.kernel_size),
        strides=list(layer.strides),
        dilations=list(layer.dilation_rate),
        group=layer.groups,
        **_window_attributes(layer.padding, layer.kernel_size, layer.strides, layer.dilation_rate),
    )  # (samples, filters, *new_spatial)
    y = exporter.activation(layer, layer.activation, _to_channels_last(exporter, y, rank, name))
    sizes = output_sizes(
        _sizes(x.shape[1:-1]), layer.padding, layer.kernel_size, layer.strides, layer.dilation_rate
    )
    return Value(y, (x.shape[0], *sizes, layer.filters))


def pooling(exporter: Any, layer: Any, x: Value) -> Value:
    """Max/AveragePooling1D/2D/3D: Transpose, `MaxPool`/`AveragePool`, Transpose."""
    g, name, rank = exporter.g, layer.name, layer.rank
    extra = {"count_include_pad": 0} if layer.kind == "average" else {}
    y = g.op(
        "MaxPool" if layer.kind == "max" else "AveragePool",
        [_to_channels_first(exporter, x, name)],
        f"{name}/pool",
        kernel_shape=list(layer.pool_size),
        strides=list(layer.strides),
        **_window_attributes(layer.padding, layer.pool_size, layer.strides),
        **extra,
    )  # (samples, channels, *new_spatial)
    sizes = output_sizes(_sizes(x.shape[1:-1]), layer.padding, layer.pool_size, layer.strides)
    return Value(_to_channels_last(exporter, y, rank, name), (x.shape[0], *sizes, x.shape[-1]))


def global_pooling(exporter: Any, layer: Any, x: Value) -> Value:
    """GlobalMax/AveragePooling1D/2D/3D: `GlobalMaxPool`/`GlobalAveragePool` channels-first."""
    g, name, rank = exporter.g, layer.name, layer.rank
    op_type = "GlobalMaxPool" if "Max" in type(layer).__name__ else "GlobalAveragePool"
    y = g.op(op_type, [_to_channels_first(exporter, x, name)], f"{name}/pool")  # (N, C, 1, ...)
    if layer.keepdims:
        shape = (x.shape[0], *(1,) * rank, x.shape[-1])
        return Value(_to_channels_last(exporter, y, rank, name), shape)
    return Value(g.op("Flatten", [y], f"{name}/flatten", axis=1), (x.shape[0], x.shape[-1]))


def zero_padding(exporter: Any, layer: ZeroPadding1D, x: Value) -> Value:
    """ZeroPadding1D: `Pad` on the timesteps axis."""
    g, name = exporter.g, layer.name
    before, after = layer.padding
    pads = g.const([0, before, 0, 0, after, 0], f"{name}/pads", np.int64)
    steps = x.shape[1] + before + after if isinstance(x.shape[1], int) else None
    return Value(g.op("Pad", [x.name, pads], f"{name}/pad"), (x.shape[0], steps, x.shape[2]))


def up_sampling(exporter: Any, layer: UpSampling1D, x: Value) -> Value:
    """UpSampling1D: each step repeated `size` times, as Unsqueeze → Tile → Reshape."""
    g, name, features = exporter.g, layer.name, x.shape[2]
    if not isinstance(features, int):
        raise exporter.refuse(layer, "its features axis has no fixed size")
    y = g.op("Unsqueeze", [x.name, g.axes(2)], f"{name}/unsqueeze")  # (samples, steps, 1, F)
    repeats = g.const([1, 1, layer.size, 1], f"{name}/repeats", np.int64)
    y = g.op("Tile", [y, repeats], f"{name}/tile")  # (samples, steps, size, F)
    target = g.const([0, -1, features], f"{name}/shape", np.int64)
    steps = layer.size * x.shape[1] if isinstance(x.shape[1], int) else None
    return Value(g.op("Reshape", [y, target], f"{name}/reshape"), (x.shape[0], steps, features))


def cropping(exporter: Any, layer: Cropping1D, x: Value) -> Value:
    """Cropping1D: `Slice` of the timesteps axis."""
    g, name = exporter.g, layer.name
    start, end = layer.cropping
    starts = g.const([start], f"{name}/starts", np.int64)
    ends = g.const([-end if end else _INT64_MAX], f"{name}/ends", np.int64)
    y = g.op("Slice", [x.name, starts, ends, g.axes(1)], f"{name}/slice")
    steps = x.shape[1] - start - end if isinstance(x.shape[1], int) else None
    return Value(y, (x.shape[0], steps, x.shape[2]))


def folded_time_distributed(exporter: Any, layer: Any, x: Value) -> Value:
    """TimeDistributed(layer) by folding: `(samples * timesteps, ...)` in, unfolded after."""
    g, name = exporter.g, layer.name
    whole = g.op("Shape", [x.name], f"{name}/shape")
    samples_steps = _shape_slice(
        g, whole, 0, 2, f"{name}/samples_timesteps"
    )  # [samples, timesteps]
    step = _shape_slice(g, whole, 2, _INT64_MAX, f"{name}/step_shape")  # one step's shape
    folded_shape = g.op(
        "Concat", [g.const([-1], f"{name}/minus_one", np.int64), step], f"{name}/folded", axis=0
    )
    folded = g.op("Reshape", [x.name, folded_shape], f"{name}/fold")  # (samples * timesteps, ...)
    (y,) = exporter.layer(layer.layer, Value(folded, (None, *x.shape[2:])), {})
    out_shape = g.op("Shape", [y.name], f"{name}/out_shape")
    out_step = _shape_slice(g, out_shape, 1, _INT64_MAX, f"{name}/out_step_shape")
    unfolded_shape = g.op("Concat", [samples_steps, out_step], f"{name}/unfolded", axis=0)
    out = g.op("Reshape", [y.name, unfolded_shape], f"{name}/unfold")
    return Value(out, (x.shape[0], x.shape[1], *y.shape[1:]))


def _shape_slice(g: Any, shape: str, start: int, end: int, hint: str) -> str:
    """`shape[start:end]` of a `Shape` output; `_INT64_MAX` for `end` reads to its last entry."""
    starts = g.const([start], f"{hint}/start", np.int64)
    ends = g.const([end], f"{hint}/end", np.int64)
    return g.op("Slice", [shape, starts, ends], hint)


#: (layer classes, export function): entries of the exporter's table.
TABLE: list[tuple[tuple[type, ...], Any]] = [
    ((Conv1D, Conv2D, Conv3D), convolution),
    (
        (
            MaxPooling1D,
            MaxPooling2D,
            MaxPooling3D,
            AveragePooling1D,
            AveragePooling2D,
            AveragePooling3D,
        ),
        pooling,
    ),
    (
        (
            GlobalMaxPooling1D,
            GlobalMaxPooling2D,
            GlobalMaxPooling3D,
            GlobalAveragePooling1D,
            GlobalAveragePooling2D,
            GlobalAveragePooling3D,
        ),
        global_pooling,
    ),
    ((ZeroPadding1D,), zero_padding),
    ((UpSampling1D,), up_sampling),
    ((Cropping1D,), cropping),
]
