"""ONNX nodes for the layers made of batched matrix products: Dot, Attention,
AdditiveAttention and MultiHeadAttention, for inputs of shape `(samples, steps, features)`.

Masks never reach here (the exporter refuses the layers that make them); call options such
as `use_causal_mask=True` are refused by the exporter before these run. Each function takes
the exporter (`onnx_export._Exporter`: its graph `g` and `refuse`), the layer and its input
`Value`s, and returns the output `Value`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from unrolled.interop.onnx_graph import Value, weight_array
from unrolled.layers.attention import AdditiveAttention, Attention
from unrolled.layers.merging import Dot
from unrolled.layers.multi_head_attention import MultiHeadAttention

_L2_EPSILON = 1e-7  # Keras's l2_normalize, as Dot's own _l2_normalize


def _three_axes(exporter: Any, layer: Any, values: list[Value]) -> None:
    if any(v.rank != 3 for v in values):
        shapes = ", ".join(str(v.shape) for v in values)
        raise exporter.refuse(layer, f"only inputs of 3 axes are exported here (received {shapes})")


def _swap_last_two(g: Any, name: str, hint: str) -> str:
    return g.op("Transpose", [name], hint, perm=[0, 2, 1])


def _l2_normalize(g: Any, name: str, axis: int, hint: str) -> str:
    # x * min(rsqrt(sum(x^2)), 1 / epsilon), as Keras's l2_normalize.
    squares = g.op("Mul", [name, name], f"{hint}/squares")
    total = g.op("ReduceSum", [squares, g.axes(axis)], f"{hint}/sum", keepdims=1)
    inverse = g.op("Reciprocal", [g.op("Sqrt", [total], f"{hint}/sqrt")], f"{hint}/rsqrt")
    capped = g.op("Min", [inverse, g.const(1.0 / _L2_EPSILON, f"{hint}/cap")], f"{hint}/min")
    return g.op("Mul", [name, capped], f"{hint}/normalized")


def dot(exporter: Any, layer: Dot, inputs: Any) -> Value:
    g, name = exporter.g, layer.name
    x, y = list(inputs)
    _three_axes(exporter, layer, [x, y])
    # The layer checked the sizes when it was built; here they may be named dynamic axes.
    pair = [layer.axes, layer.axes] if isinstance(layer.axes, int) else layer.axes
    a0, a1 = pair[0] % 3, pair[1] % 3
    xn, yn = x.name, y.name
    if layer.normalize:
        xn = _l2_normalize(g, xn, a0, f"{name}/x")
        yn = _l2_normalize(g, yn, a1, f"{name}/y")
    if a0 == 1:
        xn = _swap_last_two(g, xn, f"{name}/x_last")  # (samples, rest, k)
    if a1 == 2:
        yn = _swap_last_two(g, yn, f"{name}/y_first")  # (samples, k, rest)
    out = g.op("MatMul", [xn, yn], f"{name}/matmul")  # (samples, x rest, y rest)
    return Value(out, (x.shape[0], x.shape[3 - a0], y.shape[3 - a1]))


def attention(exporter: Any, layer: Attention, inputs: Any) -> Value:
    g, name = exporter.g, layer.name
    values = list(inputs)
    _three_axes(exporter, layer, values)
    query, value = values[0], values[1]
    key = values[2] if len(values) > 2 else value
    scores = _scores(exporter, layer, query, key)  # (samples, Tq, Tv)
    weights = g.op("Softmax", [scores], f"{name}/softmax", axis=-1)
    out = g.op("MatMul", [weights, value.name], f"{name}/output")  # (samples, Tq, value_dim)
    return Value(out, (query.shape[0], query.shape[1], value.shape[2]))


def _scores(exporter: Any, layer: Attention, query: Value, key: Value) -> str:
    g, name = exporter.g, layer.name
    # a scale of shape () or (dim,): broadcast as it is in the layer
    scale = None if layer.scale is None else weight_array(layer.scale)
    if isinstance(layer, AdditiveAttention) or layer.score_mode == "concat":
        q = g.op("Unsqueeze", [query.name, g.axes(2)], f"{name}/query_pairs")  # (s, Tq, 1, d)
        k = g.op("Unsqueeze", [key.name, g.axes(1)], f"{name}/key_pairs")  # (s, 1, Tv, d)
        pairs = g.op("Add", [q, k], f"{name}/pairs")  # (samples, Tq, Tv, dim)
        additive = isinstance(layer, AdditiveAttention)
        if additive:
            pairs = g.op("Tanh", [pairs], f"{name}/tanh")
        if scale is not None:
            pairs = g.op("Mul", [pairs, g.const(scale, f"{name}/scale")], f"{name}/scaled")
        if not additive:  # Attention(score_mode="concat"): tanh after the scale
            pairs = g.op("Tanh", [pairs], f"{name}/tanh")
        scores = g.op("ReduceSum", [pairs, g.axes(-1)], f"{name}/sum", keepdims=0)
        if not additive:
            weight = g.const(weight_array(layer.concat_score_weight), f"{name}/concat_score_weight")
            scores = g.op("Mul", [scores, weight], f"{name}/weighted")
        return scores
    keys = _swap_last_two(g, key.name, f"{name}/keys")  # (samples, dim, Tv)
    scores = g.op("MatMul", [query.name, keys], f"{name}/scores")  # (samples, Tq, Tv)
    if scale is not None:
        scores = g.op("Mul", [scores, g.const(scale, f"{name}/scale")], f"{name}/scaled")
    return scores


def multi_head_attention(exporter: Any, layer: MultiHeadAttention, inputs: Any) -> Value:
    # The layer's own einsums, spelled out for 3-D inputs: ONNX's Einsum runs them as they are.
    g, name = exporter.g, layer.name
    values = list(inputs)
    _three_axes(exporter, layer, values)
    out_shape = tuple(layer.attention_output.kernel.shape[2:])
    if layer._axes != (1,) or len(out_shape) != 1:
        raise exporter.refuse(
            layer, "only attention over the timesteps with a 1-D output_shape is exported"
        )
    query, value = values[0], values[1]
    key = values[2] if len(values) > 2 else value
    q = _project(g, layer.query, query.name, f"{name}/query")  # (samples, T, heads, key_dim)
    scale = g.const(1.0 / np.sqrt(layer.key_dim), f"{name}/scale")
    q = g.op("Mul", [q, scale], f"{name}/query_scaled")
    k = _project(g, layer.key, key.name, f"{name}/key")  # (samples, S, heads, key_dim)
    v = _project(g, layer.value, value.name, f"{name}/value")  # (samples, S, heads, value_dim)
    scores = g.op("Einsum", [k, q], f"{name}/scores", equation="bshk,bthk->bhts")
    weights = g.op("Softmax", [scores], f"{name}/softmax", axis=-1)  # (samples, heads, T, S)
    heads = g.op("Einsum", [weights, v], f"{name}/heads", equation="bhts,bshv->bthv")
    if layer.use_gate:
        gate = g.op("Sigmoid", [_project(g, layer.gate, query.name, f"{name}/gate")], f"{name}/g")
        heads = g.op("Mul", [heads, gate], f"{name}/gated")
    kernel = g.const(weight_array(layer.attention_output.kernel), f"{name}/attention_output/kernel")
    out = g.op("Einsum", [heads, kernel], f"{name}/output", equation="bthv,hvo->bto")
    if layer.attention_output.bias is not None:
        bias = g.const(weight_array(layer.attention_output.bias), f"{name}/attention_output/bias")
        out = g.op("Add", [out, bias], f"{name}/output_bias")
    return Value(out, (query.shape[0], query.shape[1], out_shape[0]))


def _project(g: Any, projection: Any, x: str, hint: str) -> str:
    """`(samples, steps, dim) -> (samples, steps, heads, size)`, as Projection.split."""
    kernel = g.const(weight_array(projection.kernel), f"{hint}/kernel")
    y = g.op("Einsum", [x, kernel], f"{hint}/einsum", equation="btd,dhs->bths")
    if projection.bias is None:
        return y
    return g.op("Add", [y, g.const(weight_array(projection.bias), f"{hint}/bias")], f"{hint}/bias")


TABLE: list[tuple[tuple[type, ...], Any]] = [
    ((MultiHeadAttention,), multi_head_attention),
    ((Dot,), dot),
    ((Attention, AdditiveAttention), attention),
]
