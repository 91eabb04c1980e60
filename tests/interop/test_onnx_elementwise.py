"""`to_onnx` for the element-wise layers (activation layers, normalization, noise, Permute,
Maximum/Minimum) with their options, run in onnxruntime against the layers (1e-5), whose
outputs are checked against Keras in tests/layers; and the options it refuses, named.
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


def _run(model: Any, x: list[np.ndarray], path: Path) -> tuple[np.ndarray, np.ndarray]:
    sig = to_onnx(model, path)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    (got,) = ort.InferenceSession(str(sig.path), options).run(None, dict(zip(sig.inputs, x)))
    model.eval()
    with torch.no_grad():
        want = model(*[torch.as_tensor(a) for a in x]).numpy()
    return got, want


def _random(model: Any, seed: int = 0) -> Any:
    rng = np.random.default_rng(seed)
    model.set_weights(
        [
            rng.uniform(*((0.5, 1.5) if "variance" in w.name else (-1.0, 1.0)), tuple(w.shape))
            for w in model.weights
        ]
    )
    return model


LAYERS = {
    "relu_threshold_cap_slope": lambda: L.ReLU(max_value=0.8, negative_slope=0.3, threshold=0.2),
    "relu_threshold": lambda: L.ReLU(threshold=0.5),
    "relu_cap": lambda: L.ReLU(max_value=0.5),
    "leaky_relu": lambda: L.LeakyReLU(negative_slope=0.05),
    "elu": lambda: L.ELU(alpha=1.7),
    "prelu_shared_timesteps": lambda: L.PReLU(shared_axes=[1]),
    "softmax_over_timesteps": lambda: L.Softmax(axis=1),
    "batch_normalization_timesteps_axis": lambda: L.BatchNormalization(axis=1, epsilon=0.1),
    "batch_normalization_without_scale": lambda: L.BatchNormalization(scale=False),
    "layer_normalization": lambda: L.LayerNormalization(epsilon=0.01),
    "layer_normalization_without_center": lambda: L.LayerNormalization(center=False),
    "permute": lambda: L.Permute((2, 1)),
    "gaussian_noise": lambda: L.GaussianNoise(1.0),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_exports_equal_to_the_layer(name: str, tmp_path: Path) -> None:
    model = _random(U.Sequential([U.Input((4, 3)), LAYERS[name]()]))
    x = np.random.default_rng(1).normal(size=(2, 4, 3)).astype(np.float32)
    got, want = _run(model, [x], tmp_path / "m.onnx")
    np.testing.assert_allclose(got, want, atol=TOL, rtol=0)


@pytest.mark.parametrize("merge", [L.Maximum, L.Minimum])
def test_maximum_and_minimum_of_inputs_of_two_ranks(merge: Any, tmp_path: Path) -> None:
    a, b = U.Input((4, 3)), U.Input((3,))
    model = U.Model([a, b], merge()([a, b]))
    rng = np.random.default_rng(2)
    x = [rng.normal(size=(2, 4, 3)).astype(np.float32), rng.normal(size=(2, 3)).astype(np.float32)]
    got, want = _run(model, x, tmp_path / "m.onnx")
    np.testing.assert_allclose(got, want, atol=TOL, rtol=0)


@pytest.mark.parametrize(
    ("layer", "words"),
    [
        (lambda: L.LayerNormalization(axis=[1, 2]), "only the last axis"),
        (lambda: L.Softmax(axis=[1, 2]), "several axes"),
    ],
)
def test_options_without_an_onnx_form_are_refused_by_name(
    layer: Any, words: str, tmp_path: Path
) -> None:
    model = U.Sequential([U.Input((4, 3)), layer()])
    with pytest.raises(ExportError, match=words):
        to_onnx(model, tmp_path / "m.onnx")
