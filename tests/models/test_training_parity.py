"""Training our recurrent models and the same models in real Keras 3 gives the same weights.

Same initial weights, same batches (shuffle=False), plain SGD: the weights after training
and the loss history agree to 1e-4.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

import unrolled
from unrolled.callbacks import ResetStates

RNG = np.random.default_rng(7)
X = RNG.normal(size=(32, 5, 2)).astype(np.float32)
Y = (X.sum(axis=(1, 2))[:, None] * 0.3).astype(np.float32)


def _same_start(ours, theirs):
    weights = [(RNG.normal(size=w.shape) * 0.3).astype(np.float32) for w in theirs.get_weights()]
    theirs.set_weights(weights)
    ours.set_weights(weights)


def _assert_same_training(ours, theirs, x, y, **fit):
    ours.compile(optimizer=unrolled.optimizers.SGD(learning_rate=0.1), loss="mse")
    theirs.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
    ours_history = ours.fit(x, y, shuffle=False, verbose=0, **fit).history["loss"]
    theirs_history = theirs.fit(x, y, shuffle=False, verbose=0, **fit).history["loss"]
    np.testing.assert_allclose(ours_history, theirs_history, rtol=1e-4, atol=1e-5)
    for got, want in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(got, want, atol=1e-4)


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "SimpleRNN"])
def test_sgd_training_of_a_recurrent_regressor_matches_keras(kind):
    ours = unrolled.Sequential([getattr(unrolled, kind)(4, input_shape=(5, 2)), unrolled.Dense(1)])
    theirs = keras.Sequential(
        [keras.Input((5, 2)), getattr(keras.layers, kind)(4), keras.layers.Dense(1)]
    )
    _same_start(ours, theirs)
    _assert_same_training(ours, theirs, X, Y, epochs=3, batch_size=8)


def test_masked_training_matches_keras():
    x = X.copy()
    x[:10, :2] = 0.0  # pre-padding
    x[10:20, 3:] = 0.0  # post-padding
    ours = unrolled.Sequential(
        [unrolled.Masking(0.0, input_shape=(5, 2)), unrolled.GRU(3), unrolled.Dense(1)]
    )
    theirs = keras.Sequential(
        [keras.Input((5, 2)), keras.layers.Masking(0.0), keras.layers.GRU(3), keras.layers.Dense(1)]
    )
    _same_start(ours, theirs)
    _assert_same_training(ours, theirs, x, Y, epochs=2, batch_size=8)


def test_regularizers_take_effect_in_training_like_keras():
    ours = unrolled.Sequential(
        [
            unrolled.LSTM(
                3, input_shape=(5, 2), kernel_regularizer="l2", recurrent_regularizer="l1"
            ),
            unrolled.Dense(1),
        ]
    )
    theirs = keras.Sequential(
        [
            keras.Input((5, 2)),
            keras.layers.LSTM(3, kernel_regularizer="l2", recurrent_regularizer="l1"),
            keras.layers.Dense(1),
        ]
    )
    _same_start(ours, theirs)
    _assert_same_training(ours, theirs, X, Y, epochs=2, batch_size=16)


def test_frozen_layer_keeps_its_weights_like_keras():
    ours = unrolled.Sequential([unrolled.LSTM(3, input_shape=(5, 2)), unrolled.Dense(1)])
    theirs = keras.Sequential([keras.Input((5, 2)), keras.layers.LSTM(3), keras.layers.Dense(1)])
    _same_start(ours, theirs)
    before = ours.layers[0].get_weights()
    ours.layers[0].trainable = False
    theirs.layers[0].trainable = False
    _assert_same_training(ours, theirs, X, Y, epochs=2, batch_size=8)
    for got, want in zip(ours.layers[0].get_weights(), before):
        np.testing.assert_array_equal(got, want)


def test_stateful_training_with_a_reset_each_epoch_matches_keras_loop():
    """The seeds' `for i in range(n): fit(epochs=1, shuffle=False); reset_states()` in one line."""
    x, y = X[:8], Y[:8]
    ours = unrolled.Sequential(
        [unrolled.LSTM(3, stateful=True, batch_input_shape=(2, 5, 2)), unrolled.Dense(1)]
    )
    theirs = keras.Sequential(
        [
            keras.Input(batch_shape=(2, 5, 2)),
            keras.layers.LSTM(3, stateful=True, use_cudnn=False),
            keras.layers.Dense(1),
        ]
    )
    _same_start(ours, theirs)
    ours.compile(optimizer=unrolled.optimizers.SGD(learning_rate=0.1), loss="mse")
    theirs.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
    ours.fit(x, y, batch_size=2, epochs=3, shuffle=False, verbose=0, callbacks=[ResetStates()])
    for _ in range(3):
        theirs.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0)
        for layer in theirs.layers:  # Keras 3 models have no reset method
            if getattr(layer, "stateful", False):
                layer.reset_state()
    for got, want in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(got, want, atol=1e-4)


def test_predict_equals_keras_on_a_bidirectional_sequence_model():
    ours = unrolled.Sequential(
        [
            unrolled.Bidirectional(unrolled.LSTM(3, return_sequences=True), input_shape=(5, 2)),
            unrolled.TimeDistributed(unrolled.Dense(2)),
        ]
    )
    theirs = keras.Sequential(
        [
            keras.Input((5, 2)),
            keras.layers.Bidirectional(keras.layers.LSTM(3, return_sequences=True)),
            keras.layers.TimeDistributed(keras.layers.Dense(2)),
        ]
    )
    _same_start(ours, theirs)
    np.testing.assert_allclose(ours.predict(X, verbose=0), theirs.predict(X, verbose=0), atol=1e-5)


@pytest.mark.parametrize("fast_path", [True, False], ids=["compiled", "reference"])
def test_a_wholly_masked_batch_still_moves_momentum_like_keras(fast_path):
    """Keras runs the cell and masks its result, so a batch with no valid step gives every
    recurrent weight a zero gradient and momentum still moves it (a missing gradient would not)."""
    x = X[:16].copy()
    x[8:] = 0.0  # the second batch: every step masked
    ours = unrolled.Sequential(
        [unrolled.Masking(0.0, input_shape=(5, 2)), unrolled.LSTM(3), unrolled.Dense(1)]
    )
    theirs = keras.Sequential(
        [keras.Input((5, 2)), keras.layers.Masking(0.0), keras.layers.LSTM(3), keras.layers.Dense(1)]
    )
    _same_start(ours, theirs)
    ours.compile(
        optimizer=unrolled.optimizers.SGD(learning_rate=0.1, momentum=0.9),
        loss="mse",
        fast_path=fast_path,
    )
    theirs.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1, momentum=0.9), loss="mse")
    ours.fit(x, Y[:16], batch_size=8, shuffle=False, verbose=0)
    theirs.fit(x, Y[:16], batch_size=8, shuffle=False, verbose=0)
    for got, want in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(got, want, atol=1e-5)
