"""`layer.states` on recurrent layers, as Keras's: the stateful states, None otherwise.

The oracle is real Keras 3 with the same weights: after each batch the states equal Keras's
`[v.numpy() for v in layer.states]`, and `reset_states()` zeros them in both.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

import unrolled

BATCH, STEPS, FEATURES = 3, 4, 2


def stateful(k, kind):
    return k.Sequential(
        [k.Input(batch_shape=(BATCH, STEPS, FEATURES)), getattr(k.layers, kind)(5, stateful=True)]
    )


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "SimpleRNN"])
def test_states_follow_each_batch_and_reset_as_keras_states(kind):
    ours, theirs = stateful(unrolled, kind), stateful(keras, kind)
    ours.set_weights(theirs.get_weights())
    layer, keras_layer = ours.layers[0], theirs.layers[0]
    assert len(layer.states) == len(keras_layer.states)
    for state in layer.states:  # built for a known batch: zeros before any data, as Keras
        np.testing.assert_array_equal(state.numpy(), np.zeros((BATCH, 5)))
    rng = np.random.default_rng(0)
    for _ in range(2):
        x = rng.standard_normal((BATCH, STEPS, FEATURES)).astype("float32")
        ours.predict(x, batch_size=BATCH, verbose=0)
        theirs.predict(x, batch_size=BATCH, verbose=0)
        for got, want in zip(layer.states, keras_layer.states):
            assert tuple(got.shape) == tuple(want.shape)
            np.testing.assert_allclose(got.numpy(), keras.ops.convert_to_numpy(want), atol=1e-5)
    layer.reset_states()
    keras_layer.reset_states()
    for got, want in zip(layer.states, keras_layer.states):
        np.testing.assert_array_equal(got.numpy(), keras.ops.convert_to_numpy(want))
    assert not any(state.numpy().any() for state in layer.states)


def test_a_layer_that_is_not_stateful_has_no_states_as_in_keras():
    layer, keras_layer = unrolled.layers.LSTM(3), keras.layers.LSTM(3)
    layer.build((None, STEPS, FEATURES))
    keras_layer.build((None, STEPS, FEATURES))
    assert layer.states is None and keras_layer.states is None
