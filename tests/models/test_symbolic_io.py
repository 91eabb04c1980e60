"""`Model.input/.inputs/.output/.outputs` and a layer's symbolic `.input/.output`, as Keras's.

The oracle is the keras.io seq2seq recipe run in real Keras: the inference encoder and decoder
rebuilt from `model.input[0]` and `model.layers[2].output`, with the same weights.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

import unrolled

ENCODER_TOKENS, DECODER_TOKENS, LATENT = 5, 6, 8


def recipe(k):
    """The keras.io character-level seq2seq recipe, written once for either library."""
    encoder_inputs = k.Input(shape=(None, ENCODER_TOKENS))
    _, state_h, state_c = k.layers.LSTM(LATENT, return_state=True)(encoder_inputs)
    decoder_inputs = k.Input(shape=(None, DECODER_TOKENS))
    decoder_lstm = k.layers.LSTM(LATENT, return_sequences=True, return_state=True)
    decoder_outputs, _, _ = decoder_lstm(decoder_inputs, initial_state=[state_h, state_c])
    decoder_outputs = k.layers.Dense(DECODER_TOKENS, activation="softmax")(decoder_outputs)
    model = k.Model([encoder_inputs, decoder_inputs], decoder_outputs)

    # Inference models, rebuilt from the trained model's symbolic tensors.
    encoder_inputs = model.input[0]
    _, state_h_enc, state_c_enc = model.layers[2].output
    encoder_model = k.Model(encoder_inputs, [state_h_enc, state_c_enc])
    decoder_inputs = model.input[1]
    state_inputs = [k.Input(shape=(LATENT,)), k.Input(shape=(LATENT,))]
    decoder_outputs, state_h_dec, state_c_dec = model.layers[3](
        decoder_inputs, initial_state=state_inputs
    )
    decoder_outputs = model.layers[4](decoder_outputs)
    decoder_model = k.Model(
        [decoder_inputs, *state_inputs], [decoder_outputs, state_h_dec, state_c_dec]
    )
    return model, encoder_model, decoder_model


def test_the_seq2seq_inference_recipe_rebuilds_like_keras():
    ours, ours_encoder, ours_decoder = recipe(unrolled)
    theirs, theirs_encoder, theirs_decoder = recipe(keras)
    ours.set_weights(theirs.get_weights())
    rng = np.random.default_rng(0)
    source = rng.random((3, 7, ENCODER_TOKENS), dtype=np.float32)
    target = rng.random((3, 1, DECODER_TOKENS), dtype=np.float32)
    states = ours_encoder.predict(source, verbose=0)
    for got, want in zip(states, theirs_encoder.predict(source, verbose=0)):
        np.testing.assert_allclose(got, want, atol=1e-5)
    got = ours_decoder.predict([target, *states], verbose=0)
    want = theirs_decoder.predict([target, *states], verbose=0)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, atol=1e-5)


def test_model_input_and_output_keep_their_structure_and_flat_lists():
    a, b = unrolled.Input((4, 2)), unrolled.Input((4, 3))
    merged = unrolled.layers.Concatenate()([unrolled.layers.LSTM(3)(a), unrolled.layers.GRU(2)(b)])
    out = unrolled.layers.Dense(1)(merged)
    model = unrolled.Model([a, b], out)
    assert model.input == [a, b] and model.inputs == [a, b]
    assert model.output is out and model.outputs == [out]
    assert model.layers[-1].input is merged and model.layers[-1].output is out


def test_a_layer_never_called_symbolically_says_so():
    layer = unrolled.layers.LSTM(3)
    with pytest.raises(AttributeError, match="output"):
        _ = layer.output
    assert getattr(layer, "input", None) is None  # the attribute protocol, as in Keras
