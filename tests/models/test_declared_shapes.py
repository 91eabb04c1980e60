"""Input shapes declared on layers: Keras 2's rule on later layers, and no silent rebuild.

The oracle for shapes is real Keras 3 building the same stack from an `Input`; the values
copied in from it must survive `fit`'s first step up to that step's own update.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from oracles.keras_oracle import keras

import unrolled
from unrolled.errors import ShapeError
from unrolled.layers import GRU, LSTM, Dense
from unrolled.models import Sequential

LEARNING_RATE = 1e-3


def keras_stack():
    """Keras 3 spells the Keras 2 tutorial's stack with one Input of batch shape (1, 3, 1)."""
    return keras.Sequential(
        [
            keras.Input(batch_shape=(1, 3, 1)),
            keras.layers.LSTM(4, stateful=True, return_sequences=True),
            keras.layers.LSTM(4, stateful=True),
            keras.layers.Dense(1),
        ]
    )


def keras2_tutorial_stack(second_layer_shape: dict) -> Sequential:
    """The Keras 2 tutorial repeats the input shape on every stacked layer."""
    model = Sequential()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # batch_input_shape on the first
        model.add(LSTM(4, batch_input_shape=(1, 3, 1), stateful=True, return_sequences=True))
        second = LSTM(4, stateful=True, **second_layer_shape)
    with pytest.warns(DeprecationWarning, match="is ignored, as Keras 2 ignored it"):
        model.add(second)
    model.add(Dense(1))
    return model


SECOND_LAYER_SHAPES = [
    {"batch_input_shape": (1, 3, 1)},
    {"input_shape": (3, 1)},
    {"input_dim": 1},
]


@pytest.mark.parametrize("shape", SECOND_LAYER_SHAPES, ids=lambda s: next(iter(s)))
def test_an_input_shape_on_a_later_layer_is_ignored_and_weights_match_keras(shape):
    ours = keras2_tutorial_stack(shape)
    theirs = keras_stack()
    assert [w.shape for w in ours.get_weights()] == [
        tuple(w.shape) for w in theirs.get_weights()
    ]


@pytest.mark.parametrize("shape", SECOND_LAYER_SHAPES, ids=lambda s: next(iter(s)))
def test_weights_set_before_fit_survive_its_first_step(shape):
    ours = keras2_tutorial_stack(shape)
    keras_weights = keras_stack().get_weights()
    ours.set_weights(keras_weights)  # fails on shape if the second layer was built for 1 feature
    parameters = list(ours.parameters())
    ours.compile(optimizer=unrolled.optimizers.Adam(learning_rate=LEARNING_RATE), loss="mse")
    x = np.random.default_rng(0).random((1, 3, 1), dtype=np.float32)
    ours.fit(x, np.ones((1, 1), np.float32), batch_size=1, epochs=1, shuffle=False, verbose=0)
    assert [id(p) for p in ours.parameters()] == [id(p) for p in parameters]
    for after, before in zip(ours.get_weights(), keras_weights):
        assert after.shape == before.shape
        # One Adam step moves each weight by at most about the learning rate.
        np.testing.assert_allclose(after, before, atol=1.01 * LEARNING_RATE)


@pytest.mark.parametrize("make", [LSTM, GRU])
def test_a_layer_built_from_its_input_shape_refuses_other_features(make):
    layer = make(4, input_shape=(3, 1))
    kernel = layer.cell.kernel
    with pytest.raises(ShapeError, match=r"built for inputs of shape \(None, 3, 1\).*\(2, 3, 2\)"):
        layer(torch.zeros(2, 3, 2))
    assert layer.cell.kernel is kernel and kernel.shape == (1, 4 * make(4).cell.kind.gate_count)


def test_a_dense_built_from_its_input_shape_refuses_other_features():
    layer = Dense(2, input_shape=(3,))
    with pytest.raises(ShapeError, match=r"\(None, 3\).*\(5, 4\)"):
        layer(torch.zeros(5, 4))
    assert layer.kernel.shape == (3, 2)


def test_a_layer_built_by_its_first_call_refuses_other_features():
    layer = LSTM(4)
    layer(torch.zeros(2, 3, 1))
    kernel = layer.cell.kernel
    with pytest.raises(ShapeError, match="built for 1 features per timestep.*with 2"):
        layer(torch.zeros(2, 3, 2))
    assert layer.cell.kernel is kernel


def test_a_matching_input_shape_on_the_first_layer_keeps_its_weights():
    layer = LSTM(4, input_shape=(3, 1))
    kernel = layer.cell.kernel
    model = Sequential([layer, Dense(1)])
    model.predict(np.zeros((2, 3, 1), np.float32), verbose=0)
    assert layer.cell.kernel is kernel


def test_an_input_shape_contradicted_in_a_graph_is_ignored_as_keras_does():
    words = unrolled.Input((6, 512))
    layer = GRU(8, input_shape=(6, 4))
    with pytest.warns(DeprecationWarning, match=r"\(None, 6, 4\).*\(None, 6, 512\).*ignored"):
        output = layer(words)
    ours = unrolled.Model(words, output)
    inputs = keras.Input((6, 512))
    theirs = keras.Model(inputs, keras.layers.GRU(8)(inputs))
    assert [w.shape for w in ours.get_weights()] == [
        tuple(w.shape) for w in theirs.get_weights()
    ]
