"""`model.layers` and `get_weights()` in Keras's order on functional graphs with several branches.

Keras lists a functional model's layers by depth (deepest first), then by the order a walk
from the outputs meets them. The oracle is real Keras: the same graph built in both, its
class sequence and weight shapes compared, and Keras's weights copied over with
`set_weights` giving Keras's predictions.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

import unrolled


def babi(k):
    """bAbI-style: story and question, each Embedding + LSTM, merged, Dense."""
    story, question = k.Input((10,)), k.Input((4,))
    encoded_story = k.layers.LSTM(8)(k.layers.Embedding(20, 5)(story))
    encoded_question = k.layers.LSTM(6)(k.layers.Embedding(20, 3)(question))
    merged = k.layers.concatenate([encoded_story, encoded_question])
    return k.Model([story, question], k.layers.Dense(3, activation="softmax")(merged))


def babi_added(k):
    """Two recurrent branches of equal width added, then Dense (the bAbI memory network's add)."""
    story, question = k.Input((10,)), k.Input((4,))
    a = k.layers.GRU(6)(k.layers.Embedding(20, 5)(story))
    b = k.layers.SimpleRNN(6)(k.layers.Embedding(20, 4)(question))
    return k.Model([story, question], k.layers.Dense(2)(k.layers.add([a, b])))


def unequal_depths(k):
    """One branch three layers deep, the other one layer, merged; the deep input listed second."""
    shallow, deep = k.Input((5,)), k.Input((7,))
    h_deep = k.layers.Dense(4)(k.layers.Dense(6)(k.layers.Dense(8)(deep)))
    h_shallow = k.layers.Dense(4)(shallow)
    return k.Model([shallow, deep], k.layers.Dense(1)(k.layers.add([h_shallow, h_deep])))


def skip_connection(k):
    """A layer read at two depths (skip connection), and a second output from the middle."""
    x = k.Input((6, 3))
    h = k.layers.LSTM(5, return_sequences=True)(x)
    deeper = k.layers.LSTM(5, return_sequences=True)(k.layers.Dense(5)(h))
    out = k.layers.GlobalAveragePooling1D()(k.layers.add([h, deeper]))
    return k.Model(x, [k.layers.Dense(2)(out), k.layers.Dense(1)(h)])


def data(model, tokens):
    rng = np.random.default_rng(0)
    shapes = [(3, *t.shape[1:]) for t in model.inputs]
    if tokens:
        return [rng.integers(0, 20, shape).astype("int32") for shape in shapes]
    return [rng.standard_normal(shape).astype("float32") for shape in shapes]


@pytest.mark.parametrize(
    "graph, tokens",
    [(babi, True), (babi_added, True), (unequal_depths, False), (skip_connection, False)],
)
def test_layers_and_weights_follow_keras_order_and_keras_weights_give_keras_predictions(
    graph, tokens
):
    theirs, ours = graph(keras), graph(unrolled)
    assert [type(layer).__name__ for layer in ours.layers] == [
        type(layer).__name__ for layer in theirs.layers
    ]
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in theirs.get_weights()]
    ours.set_weights(theirs.get_weights())
    x = data(theirs, tokens)
    x = x if len(x) > 1 else x[0]
    want = theirs.predict(x, verbose=0)
    got = ours.predict(x, verbose=0)
    for g, w in zip(*(v if isinstance(v, list) else [v] for v in (got, want))):
        np.testing.assert_allclose(g, w, atol=1e-5)


def test_the_order_survives_saving_and_loading(tmp_path):
    model = unequal_depths(unrolled)
    model.save(tmp_path / "m.keras")
    loaded = unrolled.models.load_model(tmp_path / "m.keras")
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
