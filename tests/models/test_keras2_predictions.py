"""Keras 2's `predict_classes` and `predict_proba`, removed in Keras 2.6, run with a warning.

Oracle: Keras 2's definitions written here (argmax of several outputs; one output above 0.5).
"""

from __future__ import annotations

import numpy as np
import pytest

import unrolled

X = np.random.default_rng(0).random((6, 4, 2), dtype=np.float32)


def _model(outputs: int, activation: str) -> unrolled.Sequential:
    return unrolled.Sequential(
        [
            unrolled.Input((4, 2)),
            unrolled.layers.LSTM(3),
            unrolled.layers.Dense(outputs, activation),
        ]
    )


def test_predict_classes_is_the_argmax_of_several_outputs():
    model = _model(3, "softmax")
    with pytest.warns(DeprecationWarning, match="np.argmax"):
        classes = model.predict_classes(X)
    np.testing.assert_array_equal(classes, np.argmax(model.predict(X, verbose=0), axis=-1))


def test_predict_classes_thresholds_one_sigmoid_output():
    model = _model(1, "sigmoid")
    with pytest.warns(DeprecationWarning):
        classes = model.predict_classes(X)
    want = (model.predict(X, verbose=0) > 0.5).astype("int32")
    assert classes.dtype == np.int32 and classes.shape == (6, 1)
    np.testing.assert_array_equal(classes, want)


def test_predict_proba_is_predict():
    model = _model(2, "softmax")
    with pytest.warns(DeprecationWarning, match="model.predict"):
        np.testing.assert_array_equal(model.predict_proba(X), model.predict(X, verbose=0))
