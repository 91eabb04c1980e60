"""Losses against keras.losses on random data: names, objects, weights, masks, shapes."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from keras.src.losses.losses import LossFunctionWrapper  # noqa: E402

from unrolled.errors import ConfigError  # noqa: E402
from unrolled.training import losses  # noqa: E402

RNG = np.random.default_rng(1)


def _data(kind: str, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    if kind == "regression":
        return RNG.normal(size=shape).astype("float32"), RNG.normal(size=shape).astype("float32")
    if kind == "binary":
        return RNG.integers(0, 2, size=shape).astype("float32"), RNG.uniform(
            0, 1, size=shape
        ).astype("float32")
    if kind == "logits":
        return RNG.integers(0, 2, size=shape).astype("float32"), RNG.normal(size=shape).astype(
            "float32"
        ) * 3
    if kind == "categorical":
        y = np.eye(shape[-1], dtype="float32")[RNG.integers(0, shape[-1], size=shape[:-1])]
        p = RNG.uniform(0.01, 1, size=shape).astype("float32")
        return y, p / p.sum(-1, keepdims=True)
    if kind == "sparse":
        return RNG.integers(0, shape[-1], size=shape[:-1]), RNG.dirichlet(
            np.ones(shape[-1]), size=shape[:-1]
        ).astype("float32")
    raise AssertionError(kind)


CASES = [
    ("mse", "regression", {}),
    ("mean_squared_error", "regression", {}),
    ("mae", "regression", {}),
    ("mape", "regression", {}),
    ("msle", "regression", {}),
    ("huber", "regression", {}),
    ("log_cosh", "regression", {}),
    ("binary_crossentropy", "binary", {}),
    ("categorical_crossentropy", "categorical", {}),
    ("sparse_categorical_crossentropy", "sparse", {}),
]
OBJECTS = [
    ("MeanSquaredError", "regression", {}),
    ("MeanAbsoluteError", "regression", {}),
    ("Huber", "regression", {"delta": 0.5}),
    ("BinaryCrossentropy", "binary", {"label_smoothing": 0.1}),
    ("BinaryCrossentropy", "logits", {"from_logits": True}),
    ("CategoricalCrossentropy", "categorical", {"label_smoothing": 0.2}),
    ("CategoricalCrossentropy", "regression", {"from_logits": True}),
    ("SparseCategoricalCrossentropy", "sparse", {}),
    ("SparseCategoricalCrossentropy", "sparse", {"from_logits": True}),
]
SHAPES = [(8, 1), (8, 3), (4, 5, 3)]


def _keras(loss, y_true, y_pred, sample_weight=None) -> float:
    return float(keras.ops.convert_to_numpy(loss(y_true, y_pred, sample_weight=sample_weight)))


# Categorical losses need several classes, so the one-column shape is not a case for them.
NAMED_CASES = [
    (*case, shape)
    for case in CASES
    for shape in SHAPES
    if not (case[1] == "categorical" and shape[-1] == 1)
]


@pytest.mark.parametrize(("name", "kind", "config", "shape"), NAMED_CASES)
def test_named_loss_matches_keras(name: str, kind: str, config: dict, shape: tuple) -> None:
    y_true, y_pred = _data(kind, shape)
    # Sequence outputs take per-timestep weights (samples, timesteps), as in Keras.
    weights = RNG.uniform(0, 2, size=shape[:-1]).astype("float32")
    reference = LossFunctionWrapper(keras.losses.get(name), name=name)
    ours = losses.get(name)
    for sw in (None, weights):
        got = float(
            ours(
                torch.tensor(y_true), torch.tensor(y_pred), None if sw is None else torch.tensor(sw)
            )
        )
        assert got == pytest.approx(_keras(reference, y_true, y_pred, sw), rel=1e-6, abs=1e-6)


@pytest.mark.parametrize(("name", "kind", "config"), OBJECTS)
def test_loss_object_matches_keras(name: str, kind: str, config: dict) -> None:
    y_true, y_pred = _data(kind, (6, 4) if kind != "sparse" else (6, 4))
    if kind == "sparse" and config.get("from_logits"):
        y_pred = RNG.normal(size=y_pred.shape).astype("float32")
    weights = RNG.uniform(0, 2, size=(6,)).astype("float32")
    reference = getattr(keras.losses, name)(**config)
    ours = getattr(losses, name)(**config)
    assert ours.name == reference.name
    for sw in (None, weights):
        got = float(
            ours(
                torch.tensor(y_true), torch.tensor(y_pred), None if sw is None else torch.tensor(sw)
            )
        )
        assert got == pytest.approx(_keras(reference, y_true, y_pred, sw), rel=1e-6, abs=1e-6)


def test_flat_targets_align_with_single_column_outputs_like_keras() -> None:
    y_true, y_pred = (
        RNG.normal(size=(7,)).astype("float32"),
        RNG.normal(size=(7, 1)).astype("float32"),
    )
    reference = keras.losses.MeanSquaredError()
    got = float(losses.get("mse")(torch.tensor(y_true), torch.tensor(y_pred)))
    assert got == pytest.approx(_keras(reference, y_true, y_pred), rel=1e-6)


def test_per_sample_weights_broadcast_over_timesteps() -> None:
    # Keras raises for (samples,) weights on per-timestep losses; we repeat them over time.
    y_true, y_pred = _data("regression", (4, 5, 2))
    weights = RNG.uniform(0, 2, size=(4,)).astype("float32")
    expected = _keras(
        keras.losses.MeanSquaredError(), y_true, y_pred, np.repeat(weights[:, None], 5, axis=1)
    )
    got = float(
        losses.get("mse")(torch.tensor(y_true), torch.tensor(y_pred), torch.tensor(weights))
    )
    assert got == pytest.approx(expected, rel=1e-6)


def test_probabilities_are_clipped_at_keras_epsilon() -> None:
    y_true = np.array([[1.0], [0.0]], dtype="float32")
    y_pred = np.array([[0.0], [1.0]], dtype="float32")
    got = float(losses.get("binary_crossentropy")(torch.tensor(y_true), torch.tensor(y_pred)))
    assert got == pytest.approx(_keras(keras.losses.BinaryCrossentropy(), y_true, y_pred), rel=1e-6)
    assert np.isfinite(got)


def test_keras_mask_on_predictions_matches_keras() -> None:
    y_true, y_pred = _data("regression", (3, 5, 2))
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [0, 1, 1, 1, 0]], dtype=bool)
    k_pred = keras.ops.convert_to_tensor(y_pred)
    k_pred._keras_mask = keras.ops.convert_to_tensor(mask)
    expected = _keras(keras.losses.MeanSquaredError(), y_true, k_pred)
    pred = torch.tensor(y_pred)
    pred._keras_mask = torch.tensor(mask)
    assert float(losses.get("mse")(torch.tensor(y_true), pred)) == pytest.approx(expected, rel=1e-6)


def test_gradients_of_fused_mean_equal_keras_definition() -> None:
    y_true = torch.tensor(_data("regression", (5, 3))[0])
    for name in ("mse", "mae", "huber"):
        pred_fast = torch.randn(5, 3, requires_grad=True)
        pred_slow = pred_fast.detach().clone().requires_grad_(True)
        loss = losses.get(name)
        loss(y_true, pred_fast).backward()
        losses.reduce_weighted_values(loss.call(y_true, pred_slow)).backward()
        torch.testing.assert_close(pred_fast.grad, pred_slow.grad)


def test_custom_function_and_torch_module_losses() -> None:
    y_true, y_pred = torch.rand(4, 2), torch.rand(4, 2)

    def doubled(t, p):
        return 2 * torch.mean(torch.square(t - p), dim=-1)

    assert float(losses.get(doubled)(y_true, y_pred)) == pytest.approx(
        2 * float(torch.mean((y_true - y_pred) ** 2))
    )
    bce = losses.get(torch.nn.BCELoss())  # torch order (input, target) is handled
    assert float(bce(y_true.round(), y_pred)) == pytest.approx(
        float(torch.nn.functional.binary_cross_entropy(y_pred, y_true.round())), rel=1e-6
    )


def test_unknown_loss_name_lists_valid_names() -> None:
    with pytest.raises(ConfigError, match="mean_squared_error"):
        losses.get("mean_square_error")
