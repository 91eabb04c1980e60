"""Sequential and functional models against the same models built in real Keras 3."""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest
import torch

import unrolled
from unrolled.models import Input, Model, Sequential

RNG = np.random.default_rng(0)


def copy_weights(ours, theirs) -> None:
    weights = [(RNG.normal(size=w.shape) * 0.4).astype(np.float32) for w in theirs.get_weights()]
    theirs.set_weights(weights)
    ours.set_weights(weights)


def test_sequential_stack_predicts_like_keras():
    ours = Sequential(
        [unrolled.LSTM(4, return_sequences=True, input_shape=(5, 3)), unrolled.GRU(2)]
    )
    theirs = keras.Sequential(
        [keras.Input((5, 3)), keras.layers.LSTM(4, return_sequences=True), keras.layers.GRU(2)]
    )
    copy_weights(ours, theirs)
    x = RNG.normal(size=(6, 5, 3)).astype(np.float32)
    np.testing.assert_allclose(ours(x).detach().numpy(), theirs.predict(x, verbose=0), atol=1e-5)
    assert ours.output_shape == theirs.output_shape
    assert ours.count_params() == theirs.count_params()


def test_functional_model_with_states_and_two_outputs_matches_keras():
    def build(lib, inp):
        seq, h, c = lib.layers.LSTM(3, return_sequences=True, return_state=True)(inp)
        last = lib.layers.GRU(3)(seq, initial_state=[h])
        return [last, c]

    ours_in, theirs_in = Input((6, 2)), keras.Input((6, 2))
    ours = Model(ours_in, build(unrolled, ours_in))
    theirs = keras.Model(theirs_in, build(keras, theirs_in))
    copy_weights(ours, theirs)
    x = RNG.normal(size=(3, 6, 2)).astype(np.float32)
    for got, want in zip(ours(x), theirs(torch.from_numpy(x))):
        np.testing.assert_allclose(got.detach().numpy(), want.detach().cpu().numpy(), atol=1e-5)
    assert [tuple(t.shape) for t in ours._outputs] == [tuple(t.shape) for t in theirs.outputs]


def test_model_is_callable_as_a_layer_so_encoder_and_decoder_compose():
    steps, features, hidden = 5, 2, 3
    enc_in = Input((steps, features))
    encoder = Model(enc_in, unrolled.LSTM(hidden)(enc_in))
    ae_in = Input((steps, features))
    codes = encoder(ae_in)
    assert codes.shape == (None, hidden)
    x = torch.randn(4, steps, features)
    outer = Model(ae_in, codes)
    torch.testing.assert_close(outer(x), encoder(x))


def test_output_shapes_are_known_without_data_and_equal_keras():
    ours = Sequential(
        [unrolled.LSTM(7, return_sequences=True, input_shape=(None, 3)), unrolled.SimpleRNN(2)]
    )
    theirs = keras.Sequential(
        [
            keras.Input((None, 3)),
            keras.layers.LSTM(7, return_sequences=True),
            keras.layers.SimpleRNN(2),
        ]
    )
    assert ours.output_shape == theirs.output_shape == (None, 2)


def test_weights_order_and_layers_match_keras():
    ours = Sequential([unrolled.LSTM(10, input_shape=(20, 30))])
    assert [w.shape for w in ours.get_weights()] == [(30, 40), (10, 40), (40,)]
    assert ours.get_layer(index=0) is ours.layers[0]
    assert ours.get_layer(ours.layers[0].name) is ours.layers[0]
    with pytest.raises(unrolled.ConfigError, match="No layer named"):
        ours.get_layer("missing")


def test_model_reset_states_and_states_by_layer_name():
    with pytest.warns(DeprecationWarning):
        model = Sequential([unrolled.LSTM(3, stateful=True, batch_input_shape=(2, 4, 1))])
    assert model.stateful_batch_size == 2
    x = torch.randn(2, 4, 1)
    first = model(x)
    second = model(x)
    assert not torch.allclose(first, second)  # states carried over
    model.reset_state()
    torch.testing.assert_close(model(x), first)
    states = model.get_states()
    (name,) = states
    model.set_states({name: [np.zeros((2, 3)), np.zeros((2, 3))]})
    torch.testing.assert_close(model(x), first)


def test_reset_states_with_batch_size_runs_the_stateful_model_on_another_batch_size():
    with pytest.warns(DeprecationWarning):
        model = Sequential([unrolled.LSTM(3, stateful=True, batch_input_shape=(4, 2, 1))])
    with pytest.raises(unrolled.ShapeError, match="stateful"):
        model(torch.randn(1, 2, 1))
    model.reset_state(batch_size=1)
    one = torch.randn(1, 2, 1)
    # The same weights run statelessly give the oracle.
    stateless = unrolled.LSTM(3)
    stateless.set_weights(model.get_weights())
    torch.testing.assert_close(model(one), stateless(one))


def test_model_with_missing_input_is_an_error():
    a, b = Input((3, 1)), Input((3, 1))
    out = unrolled.LSTM(2)(b)
    with pytest.raises(unrolled.ConfigError, match="not in the model's `inputs`"):
        Model(a, out)


def test_wrong_input_shape_is_a_shape_error_naming_both_shapes():
    model = Sequential([unrolled.LSTM(2, input_shape=(3, 1))])
    with pytest.raises(unrolled.ShapeError, match=r"\(None, 3, 1\).*\(2, 3, 5\)"):
        model(torch.randn(2, 3, 5))


def test_summary_lists_layers_shapes_params_and_gates():
    model = Sequential([unrolled.LSTM(16, input_shape=(None, 1))])
    text = model.summary(print_fn=lambda _: None)
    assert "(None, 16)" in text
    assert "Total params: 1,152" in text  # 4 * (16 * (1 + 16) + 16)
    for gate in ("input gate", "forget gate", "cell gate", "output gate"):
        assert re.search(rf"{gate}\s+1x16 \+ 16x16 \+ 16 = 288", text)
    assert "path fused" in text


def test_model_trainable_flag_reaches_every_nested_layer_like_keras():
    def build(lib):
        inner = lib.layers.Bidirectional(lib.layers.LSTM(2))
        return lib.Sequential(
            [
                lib.Input((3, 1)) if lib is keras else lib.layers.Input((3, 1)),
                inner,
                lib.layers.Dense(1),
            ]
        )

    ours, theirs = build(unrolled), build(keras)
    ours.trainable = False
    theirs.trainable = False
    assert not any(w.requires_grad for w in ours.weights)
    assert (
        [layer.trainable for layer in ours.layers]
        == [layer.trainable for layer in theirs.layers]
        == [False, False]
    )
    assert (
        ours.layers[0].forward_layer.trainable is theirs.layers[0].forward_layer.trainable is False
    )
    ours.trainable = True
    assert all(w.requires_grad for w in ours.weights)
