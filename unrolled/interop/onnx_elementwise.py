"""ONNX nodes for the element-wise layers: activation layers, normalization at inference,
noise layers (identity at inference), Permute, and the Maximum/Minimum merges.

Each function takes the exporter (`onnx_export._Exporter`: its graph `g` and `refuse`), the
layer and its input `Value` (a list of them for a merge), and returns the output `Value`.
The formulas are the layers' own inference paths, step by step, so the exported graph
rounds as the layer does.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from unrolled.interop.onnx_graph import Value, expanded_to_one_rank, weight_array
from unrolled.layers.activity_regularization import ActivityRegularization
from unrolled.layers.advanced_activations import ELU, LeakyReLU, PReLU, ReLU, Softmax
from unrolled.layers.merging import Maximum, Minimum
from unrolled.layers.noise import GaussianDropout, GaussianNoise
from unrolled.layers.normalization import BatchNormalization, LayerNormalization
from unrolled.layers.reshaping import Permute


def identity(exporter: Any, layer: Any, x: Value) -> Value:
    return x  # noise, dropout and activity regularization do nothing at inference


def relu(exporter: Any, layer: ReLU, x: Value) -> Value:
    # ReLU.forward's cases in its order: leaky part below the threshold, cap, threshold.
    g, name = exporter.g, layer.name
    slope, cap, threshold = layer.negative_slope, layer.max_value, layer.threshold
    if slope != 0.0 and cap is None and threshold == 0.0:
        return Value(g.op("LeakyRelu", [x.name], f"{name}/leaky_relu", alpha=slope), x.shape)
    if threshold != 0.0:
        above = g.op("Greater", [x.name, g.const(threshold, f"{name}/threshold")], f"{name}/gt")
        y = g.op("Where", [above, x.name, g.const(0.0, f"{name}/zero")], f"{name}/where")
    else:
        y = g.op("Relu", [x.name], f"{name}/relu")
    if cap is not None:
        low, high = g.const(0.0, f"{name}/low"), g.const(cap, f"{name}/cap")
        y = g.op("Clip", [y, low, high], f"{name}/clip")
    if slope != 0.0:
        shifted = g.op("Sub", [g.const(threshold, f"{name}/t"), x.name], f"{name}/shift")
        below = g.op("Relu", [shifted], f"{name}/below")
        scaled = g.op("Mul", [below, g.const(slope, f"{name}/slope")], f"{name}/scaled")
        y = g.op("Sub", [y, scaled], f"{name}/leak")
    return Value(y, x.shape)


def leaky_relu(exporter: Any, layer: LeakyReLU, x: Value) -> Value:
    out = exporter.g.op(
        "LeakyRelu", [x.name], f"{layer.name}/leaky_relu", alpha=layer.negative_slope
    )
    return Value(out, x.shape)


def elu(exporter: Any, layer: ELU, x: Value) -> Value:
    return Value(exporter.g.op("Elu", [x.name], f"{layer.name}/elu", alpha=layer.alpha), x.shape)


def prelu(exporter: Any, layer: PReLU, x: Value) -> Value:
    # alpha is (…per-sample axes…) with size 1 on shared axes: ONNX's slope broadcasts the same.
    slope = exporter.g.const(weight_array(layer.alpha), f"{layer.name}/alpha")
    return Value(exporter.g.op("PRelu", [x.name, slope], f"{layer.name}/prelu"), x.shape)


def softmax(exporter: Any, layer: Softmax, x: Value) -> Value:
    if isinstance(layer.axis, list):
        raise exporter.refuse(
            layer, f"a softmax over several axes (axis={layer.axis}) is not exported"
        )
    out = exporter.g.op("Softmax", [x.name], f"{layer.name}/softmax", axis=layer.axis)
    return Value(out, x.shape)


def permute(exporter: Any, layer: Permute, x: Value) -> Value:
    perm = [0, *layer.dims]  # Keras's dims count from 1, after the samples axis
    out = exporter.g.op("Transpose", [x.name], f"{layer.name}/transpose", perm=perm)
    return Value(out, tuple(x.shape[p] for p in perm))


def extreme(exporter: Any, layer: Maximum | Minimum, inputs: Any) -> Value:
    g, name = exporter.g, layer.name
    values = list(inputs)
    names = expanded_to_one_rank(g, values, name)
    op_type = "Max" if isinstance(layer, Maximum) else "Min"
    return Value(
        g.op(op_type, names, f"{name}/{op_type.lower()}"), max(values, key=lambda v: v.rank).shape
    )


def _along(values: np.ndarray, axis: int, rank: int) -> np.ndarray:
    """`(features,)` shaped to broadcast along `axis` of a rank-`rank` tensor."""
    return values.reshape((-1,) + (1,) * (rank - 1 - axis))


def batch_normalization(exporter: Any, layer: BatchNormalization, x: Value) -> Value:
    # Inference: (x - moving_mean) * (rsqrt(moving_variance + epsilon) * gamma) + beta.
    g, name = exporter.g, layer.name
    axis = layer.axis % x.rank
    mean, variance = weight_array(layer.moving_mean), weight_array(layer.moving_variance)
    factor = 1.0 / np.sqrt(variance + np.float32(layer.epsilon))
    if layer.gamma is not None:
        factor = factor * weight_array(layer.gamma)
    centered = g.op(
        "Sub", [x.name, g.const(_along(mean, axis, x.rank), f"{name}/mean")], f"{name}/center"
    )
    y = g.op(
        "Mul", [centered, g.const(_along(factor, axis, x.rank), f"{name}/factor")], f"{name}/scale"
    )
    if layer.beta is not None:
        y = g.op(
            "Add",
            [y, g.const(_along(weight_array(layer.beta), axis, x.rank), f"{name}/beta")],
            f"{name}/offset",
        )
    return Value(y, x.shape)


def layer_normalization(exporter: Any, layer: LayerNormalization, x: Value) -> Value:
    # The last axis only (Keras's default): its mean as a MatMul by 1/size, which every opset
    # has (ReduceMean moved its axes from attribute to input at opset 18).
    g, name = exporter.g, layer.name
    axes = layer.axis if isinstance(layer.axis, list) else [layer.axis]
    size = x.shape[-1]
    if [a % x.rank for a in axes] != [x.rank - 1] or not isinstance(size, int):
        raise exporter.refuse(
            layer, f"only the last axis of a known size is exported (axis={layer.axis})"
        )
    average = g.const(np.full((size, 1), 1.0 / size, np.float32), f"{name}/average")
    mean = g.op("MatMul", [x.name, average], f"{name}/mean")  # (..., 1)
    centered = g.op("Sub", [x.name, mean], f"{name}/centered")
    squares = g.op("Mul", [centered, centered], f"{name}/squares")
    variance = g.op("MatMul", [squares, average], f"{name}/variance")
    shifted = g.op("Add", [variance, g.const(layer.epsilon, f"{name}/epsilon")], f"{name}/shifted")
    inverse = g.op("Reciprocal", [g.op("Sqrt", [shifted], f"{name}/sqrt")], f"{name}/inverse")
    # rms_scaling (deprecated in Keras 3) scales x itself by the variance's inverse root.
    y = g.op("Mul", [x.name if layer.rms_scaling else centered, inverse], f"{name}/normalized")
    if layer.gamma is not None:
        y = g.op("Mul", [y, g.const(weight_array(layer.gamma), f"{name}/gamma")], f"{name}/scale")
    if layer.beta is not None:
        y = g.op("Add", [y, g.const(weight_array(layer.beta), f"{name}/beta")], f"{name}/offset")
    return Value(y, x.shape)


TABLE: list[tuple[tuple[type, ...], Any]] = [
    ((GaussianNoise, GaussianDropout, ActivityRegularization), identity),
    ((ReLU,), relu),
    ((LeakyReLU,), leaky_relu),
    ((ELU,), elu),
    ((PReLU,), prelu),
    ((Softmax,), softmax),
    ((Permute,), permute),
    ((Maximum, Minimum), extreme),
    ((BatchNormalization,), batch_normalization),
    ((LayerNormalization,), layer_normalization),
]
