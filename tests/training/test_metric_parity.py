"""Metrics against keras.metrics over several batches of different sizes."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from unrolled.errors import ConfigError  # noqa: E402
from unrolled.training import metrics  # noqa: E402

RNG = np.random.default_rng(2)
BATCHES = (5, 3, 1)


def _batches(kind: str, tail: tuple[int, ...]):
    for n in BATCHES:
        shape = (n, *tail)
        if kind == "regression":
            yield RNG.normal(size=shape).astype("float32"), RNG.normal(size=shape).astype("float32")
        elif kind == "binary":
            yield (
                RNG.integers(0, 2, size=shape).astype("float32"),
                RNG.uniform(size=shape).astype("float32"),
            )
        elif kind == "categorical":
            yield (
                np.eye(tail[-1], dtype="float32")[RNG.integers(0, tail[-1], size=shape[:-1])],
                RNG.uniform(size=shape).astype("float32"),
            )
        elif kind == "sparse":
            yield (
                RNG.integers(0, tail[-1], size=shape[:-1]),
                RNG.uniform(size=shape).astype("float32"),
            )


CASES = [
    ("mae", "MeanAbsoluteError", "regression", (2,)),
    ("mse", "MeanSquaredError", "regression", (3, 2)),
    ("mape", "MeanAbsolutePercentageError", "regression", (2,)),
    ("rmse", "RootMeanSquaredError", "regression", (2,)),
    ("binary_accuracy", "BinaryAccuracy", "binary", (1,)),
    ("categorical_accuracy", "CategoricalAccuracy", "categorical", (4,)),
    ("sparse_categorical_accuracy", "SparseCategoricalAccuracy", "sparse", (4,)),
]


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize(("name", "keras_class", "kind", "tail"), CASES)
def test_epoch_average_matches_keras(
    name: str, keras_class: str, kind: str, tail: tuple, weighted: bool
) -> None:
    ours = metrics.get(name)
    reference = getattr(keras.metrics, keras_class)()
    for y_true, y_pred in _batches(kind, tail):
        sw = RNG.uniform(0, 2, size=(len(y_true),)).astype("float32") if weighted else None
        reference.update_state(y_true, y_pred, sample_weight=sw)
        ours.update_state(
            torch.tensor(y_true), torch.tensor(y_pred), None if sw is None else torch.tensor(sw)
        )
        assert float(ours.result()) == pytest.approx(
            float(keras.ops.convert_to_numpy(reference.result())), rel=1e-6
        )
    ours.reset_state()
    assert float(ours.result()) == 0.0


@pytest.mark.parametrize(
    ("y_true_shape", "y_pred_shape", "expected"),
    [
        ((6, 1), (6, 1), metrics.BinaryAccuracy),
        ((6,), (6, 1), metrics.BinaryAccuracy),
        ((6,), (6, 3), metrics.SparseCategoricalAccuracy),
        ((6, 1), (6, 3), metrics.SparseCategoricalAccuracy),
        ((6, 3), (6, 3), metrics.CategoricalAccuracy),
    ],
)
def test_accuracy_kind_is_chosen_like_keras_3(y_true_shape, y_pred_shape, expected) -> None:
    for name in ("accuracy", "acc"):
        metric = metrics.get(name, torch.zeros(y_true_shape), torch.zeros(y_pred_shape))
        assert isinstance(metric, expected)
        assert metric.name == name
        assert metric.direction == "up"


def test_keras_mask_drops_masked_steps_like_keras() -> None:
    y_true = RNG.normal(size=(3, 4, 2)).astype("float32")
    y_pred = RNG.normal(size=(3, 4, 2)).astype("float32")
    mask = np.array([[1, 1, 0, 0], [1, 1, 1, 1], [0, 1, 1, 0]], dtype=bool)
    k_pred = keras.ops.convert_to_tensor(y_pred)
    k_pred._keras_mask = keras.ops.convert_to_tensor(mask)
    reference = keras.metrics.MeanAbsoluteError()
    reference.update_state(y_true, k_pred)
    pred = torch.tensor(y_pred)
    pred._keras_mask = torch.tensor(mask)
    ours = metrics.get("mae")
    ours.update_state(torch.tensor(y_true), pred)
    assert float(ours.result()) == pytest.approx(
        float(keras.ops.convert_to_numpy(reference.result())), rel=1e-6
    )


def test_unknown_metric_lists_valid_names() -> None:
    with pytest.raises(ConfigError, match="'mae'|mae"):
        metrics.get("maee")
