"""`to_onnx` for Dot, Attention and AdditiveAttention, run in onnxruntime against the layers
(1e-5; the layers are checked against Keras in tests/layers), at two batch sizes and two
sequence lengths; and the call options it refuses, named.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import unrolled as U
from unrolled.interop import ExportError, to_onnx

ort = pytest.importorskip("onnxruntime")
L = U.layers
TOL = 1e-5


def _model(layer: Any, shapes: list[tuple[int | None, ...]], **options: Any) -> Any:
    inputs = [U.Input(s) for s in shapes]
    model = U.Model(inputs, layer(inputs, **options))
    rng = np.random.default_rng(0)
    model.set_weights([rng.uniform(0.2, 1.0, tuple(w.shape)) for w in model.weights])
    return model


class _MultiHead:
    """Calls a MultiHeadAttention as `layer(query, value[, key])` from a list, as the others."""

    def __init__(self, layer: Any) -> None:
        self.layer = layer

    def __call__(self, inputs: list[Any], **options: Any) -> Any:
        return self.layer(*inputs, **options)


LAYERS = {
    "attention_scaled_with_key": (lambda: L.Attention(use_scale=True), 3),
    "attention_concat": (lambda: L.Attention(score_mode="concat", use_scale=True), 2),
    "additive_attention": (lambda: L.AdditiveAttention(), 2),
    "dot_over_features_normalized": (lambda: L.Dot(axes=2, normalize=True), 2),
    "multi_head_attention": (lambda: _MultiHead(L.MultiHeadAttention(2, 4)), 2),
    "multi_head_attention_with_key_value_dim_no_bias": (
        lambda: _MultiHead(L.MultiHeadAttention(3, 2, value_dim=5, output_shape=4, use_bias=False)),
        3,
    ),
    "multi_head_attention_gated": (
        lambda: _MultiHead(L.MultiHeadAttention(2, 2, use_gate=True)),
        2,
    ),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_exports_equal_to_the_layer_at_any_batch_and_length(
    name: str, tmp_path: Path
) -> None:
    make, count = LAYERS[name]
    model = _model(make(), [(None, 3)] * count)
    sig = to_onnx(model, tmp_path / "m.onnx")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(sig.path), options)
    rng = np.random.default_rng(1)
    for batch, steps in ((2, 4), (3, 6)):
        x = [rng.normal(size=(batch, steps, 3)).astype(np.float32) for _ in range(count)]
        (got,) = session.run(None, dict(zip(sig.inputs, x)))
        with torch.no_grad():
            want = model(*[torch.as_tensor(a) for a in x]).numpy()
        np.testing.assert_allclose(got, want, atol=TOL, rtol=0)


def test_a_causal_mask_is_refused_by_name(tmp_path: Path) -> None:
    model = _model(L.Attention(), [(4, 3), (4, 3)], use_causal_mask=True)
    with pytest.raises(ExportError, match=r"Attention.*use_causal_mask=True"):
        to_onnx(model, tmp_path / "m.onnx")


def test_a_dot_of_two_axis_inputs_is_refused_by_name(tmp_path: Path) -> None:
    model = _model(L.Dot(axes=1), [(3,), (3,)])
    with pytest.raises(ExportError, match=r"Dot.*3 axes"):
        to_onnx(model, tmp_path / "m.onnx")


def test_multi_head_attention_over_two_axes_is_refused_by_name(tmp_path: Path) -> None:
    inputs = [U.Input((2, 4, 3)), U.Input((2, 4, 3))]
    model = U.Model(inputs, L.MultiHeadAttention(2, 2, attention_axes=(1, 2))(*inputs))
    with pytest.raises(ExportError, match=r"MultiHeadAttention.*3 axes"):
        to_onnx(model, tmp_path / "m.onnx")
