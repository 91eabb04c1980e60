"""Weights carry Keras's names: `w.name == "kernel"`, `w.path == "lstm/lstm_cell/kernel"`.

The oracle is real Keras 3: the same models, with the same explicit layer names (automatic
names count per library), give the same `(name, path)` lists in `model.weights`,
`layer.weights`, `trainable_weights` and `non_trainable_weights`. The names must not change
what torch sees: `state_dict` keys, pickling, copying and an optimizer made beforehand.
"""

from __future__ import annotations

import copy
import io
import pickle

import keras
import numpy as np
import torch

import unrolled


def stack(k, **sequential):
    """One layer of each family, named explicitly, in a Sequential."""
    L = k.layers
    return k.Sequential(
        [
            k.Input((6,)),
            L.Embedding(10, 4, name="emb"),
            L.Conv1D(3, 2, name="conv"),
            L.LSTM(4, return_sequences=True, name="enc"),
            L.GRU(3, return_sequences=True, name="gru"),
            L.SimpleRNN(2, return_sequences=True, name="rnn"),
            L.Bidirectional(L.LSTM(2, return_sequences=True, name="both"), name="bi"),
            L.TimeDistributed(L.Dense(2, name="head"), name="td"),
            L.Bidirectional(
                L.GRU(2, name="fwd"),
                backward_layer=L.GRU(2, go_backwards=True, name="bwd"),
                name="bi_gru",
            ),
        ],
        **sequential,
    )


def graph(k):
    """A functional model: Keras builds its layers outside the model, so no model name."""
    L = k.layers
    x = k.Input((5, 3))
    h = L.LSTM(4, return_sequences=True, name="first")(x)
    h = L.Bidirectional(L.SimpleRNN(2, name="second"), name="bi")(h)
    return k.Model(x, L.Dense(1, name="out")(h))


def names(weights):
    return [(w.name, w.path) for w in weights]


def test_sequential_weights_are_named_as_keras_names_them():
    ours, theirs = stack(unrolled, name="seq"), stack(keras, name="seq")
    assert names(ours.weights) == names(theirs.weights)
    assert names(ours.trainable_weights) == names(theirs.trainable_weights)
    for mine, keras_layer in zip(ours.layers, theirs.layers):
        assert names(mine.weights) == names(keras_layer.weights)
    assert ours.weights[3].path == "seq/enc/lstm_cell/kernel"


def test_functional_and_standalone_layers_have_no_model_in_their_paths():
    ours, theirs = graph(unrolled), graph(keras)
    assert names(ours.weights) == names(theirs.weights)
    assert ours.weights[0].path == "first/lstm_cell/kernel"
    layer, keras_layer = unrolled.layers.GRU(3, name="alone"), keras.layers.GRU(3, name="alone")
    layer.build((None, 4, 2))
    keras_layer.build((None, 4, 2))
    assert names(layer.weights) == names(keras_layer.weights)


def neighbours(k):
    """Normalization, attention and convolutional recurrence: sublayers and moving statistics."""
    L = k.layers
    x = k.Input((6, 4))
    h = L.LayerNormalization(name="ln")(L.BatchNormalization(name="bn")(x))
    h = L.MultiHeadAttention(2, 3, name="mha")(h, h)
    frames = L.Reshape((6, 4, 1))(h)
    return k.Model(x, L.ConvLSTM1D(2, 3, name="clstm")(frames))


def test_neighbour_layers_name_their_weights_and_moving_statistics_as_keras():
    ours, theirs = neighbours(unrolled), neighbours(keras)
    assert names(ours.weights) == names(theirs.weights)
    assert names(ours.trainable_weights) == names(theirs.trainable_weights)
    assert names(ours.non_trainable_weights) == names(theirs.non_trainable_weights)


def test_frozen_layers_move_their_weights_to_non_trainable_weights_as_in_keras():
    ours, theirs = graph(unrolled), graph(keras)
    for model in (ours, theirs):
        model.get_layer("bi").trainable = False
    assert names(ours.trainable_weights) == names(theirs.trainable_weights)
    assert names(ours.non_trainable_weights) == names(theirs.non_trainable_weights)
    assert [w.trainable for w in ours.weights] == [w.trainable for w in theirs.weights]


def test_state_dict_keys_stay_torchs_and_values_round_trip():
    model = stack(unrolled)
    # torch's own names: module attributes joined by dots, as for any nn.Module.
    keys = list(model.state_dict())
    assert keys[:3] == ["0.embeddings", "1.kernel", "1.bias"]
    assert {"2.cell.kernel", "2.cell.recurrent_kernel", "2.cell.bias"} <= set(keys)
    assert all(type(v) is torch.Tensor for v in model.state_dict().values())
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    fresh = stack(unrolled)
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    for a, b in zip(fresh.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_pickled_and_copied_models_keep_names_and_link_their_own_weights():
    model = stack(unrolled, name="seq")
    for twin in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
        assert names(twin.weights) == names(model.weights)
        assert all(a is not b for a, b in zip(twin.weights, model.weights))
        kernel = twin.get_layer("enc").weights[0]
        assert kernel is twin.weights[3] and kernel.path == "seq/enc/lstm_cell/kernel"
    alone = pickle.loads(pickle.dumps(model.weights[3]))
    assert (alone.name, alone.path) == ("kernel", "seq/enc/lstm_cell/kernel")
    np.testing.assert_array_equal(alone.numpy(), model.weights[3].numpy())


def test_an_optimizer_made_first_still_trains_the_named_weights():
    layer = unrolled.layers.Dense(2)
    layer.build((None, 3))
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.5)
    before = layer.kernel.detach().clone()
    assert layer.weights[0].name == "kernel"  # naming after the optimizer exists changes nothing
    layer(torch.ones(4, 3)).sum().backward()
    optimizer.step()
    # d(sum(x @ W + b))/dW = 4 for every entry when x is all ones over 4 rows.
    torch.testing.assert_close(layer.kernel.detach(), before - 0.5 * 4.0)
