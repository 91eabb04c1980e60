"""Masking and Embedding against Keras 3, and masks carried end to end through layer chains.

A chain runs the same layers (same weights) in Keras and in unrolled, one call after
another, the mask riding on the tensors (`_keras_mask`) as in Keras 3, and compares every
stage's output and attached mask.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import torch
from oracles import keras_layers as kl
from oracles.keras_oracle import rng_for

import unrolled.layers as L
from unrolled.errors import ConfigError, InputTypeError

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

VOCAB, WIDTH = 12, 4
# Token ids with 0 as padding: post-padded, pre-padded, a hole, a row of padding only.
TOKENS = np.array(
    [
        [3, 5, 7, 1, 0, 0],
        [0, 0, 2, 4, 6, 8],
        [9, 0, 11, 3, 0, 2],
        [0, 0, 0, 0, 0, 0],
        [1, 2, 3, 4, 5, 6],
    ],
    dtype=np.int64,
)


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def chain(layers_ours, layers_theirs, x, seed=0):
    """Runs two layer lists on `x` after giving paired layers the same weights."""
    ours_in, theirs_in = torch.from_numpy(x.copy()), torch.from_numpy(x.copy())
    # First pass builds every layer (Keras builds on call), then weights are shared.
    h_ours, h_theirs = ours_in, theirs_in
    for our_layer, their_layer in zip(layers_ours, layers_theirs):
        h_ours, h_theirs = our_layer(h_ours), their_layer(h_theirs)
    rng = rng_for("chain", seed)
    for our_layer, their_layer in zip(layers_ours, layers_theirs):
        if their_layer.get_weights():
            kl.share_weights(rng, their_layer, our_layer)
    h_ours, h_theirs = ours_in, theirs_in
    for our_layer, their_layer in zip(layers_ours, layers_theirs):
        h_ours, h_theirs = our_layer(h_ours), their_layer(h_theirs)
        kl.assert_same(h_ours, h_theirs)
    return h_ours, h_theirs


# ----------------------------------------------------------------------------- Embedding


def test_embedding_with_mask_zero_feeds_lstm_and_time_distributed_dense_like_keras():
    ours = [
        L.Embedding(VOCAB, WIDTH, mask_zero=True),
        L.LSTM(5, return_sequences=True),
        L.TimeDistributed(L.Dense(2)),
    ]
    theirs = [
        keras.layers.Embedding(VOCAB, WIDTH, mask_zero=True),
        keras.layers.LSTM(5, return_sequences=True, use_cudnn=False),
        keras.layers.TimeDistributed(keras.layers.Dense(2)),
    ]
    out, _ = chain(ours, theirs, TOKENS)
    np.testing.assert_array_equal(kl.mask_of(out), TOKENS != 0)


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "SimpleRNN"])
def test_embedding_mask_through_bidirectional_and_a_last_output_layer(kind):
    ours = [
        L.Embedding(VOCAB, WIDTH, mask_zero=True),
        L.Bidirectional(getattr(L, kind)(3, return_sequences=True)),
        getattr(L, kind)(4),
        L.Dense(1),
    ]
    theirs = [
        keras.layers.Embedding(VOCAB, WIDTH, mask_zero=True),
        keras.layers.Bidirectional(
            getattr(keras.layers, kind)(3, return_sequences=True, **kl.KERAS_RNN[kind])
        ),
        getattr(keras.layers, kind)(4, **kl.KERAS_RNN[kind]),
        keras.layers.Dense(1),
    ]
    out, _ = chain(ours, theirs, TOKENS, seed=kind)
    assert kl.mask_of(out) is None  # the last-output layer ends the mask, as in Keras


def test_embedding_without_mask_zero_attaches_no_mask():
    ours, theirs = L.Embedding(VOCAB, WIDTH), keras.layers.Embedding(VOCAB, WIDTH)
    chain([ours], [theirs], TOKENS)
    assert not ours.supports_masking


@pytest.mark.parametrize("shape", [(5,), (5, 6), (2, 5, 6)], ids=["1d", "2d", "3d"])
def test_embedding_accepts_any_rank_and_integral_floats_like_keras(shape):
    tokens = rng_for("tokens", shape).integers(0, VOCAB, size=shape)
    ours, theirs = (
        L.Embedding(VOCAB, WIDTH, mask_zero=True),
        keras.layers.Embedding(VOCAB, WIDTH, mask_zero=True),
    )
    theirs.build()
    kl.share_weights(rng_for("emb", shape), theirs, ours)
    kl.assert_same(ours(torch.from_numpy(tokens)), theirs(torch.from_numpy(tokens)))
    as_floats = tokens.astype(np.float32)
    kl.assert_same(ours(as_floats), theirs(torch.from_numpy(as_floats)))
    assert (
        ours(L.Input(shape[1:], dtype="int32")).shape
        == theirs(keras.Input(shape[1:], dtype="int32")).shape
    )


def test_embedding_weights_layout_initializer_and_config():
    torch.manual_seed(0)
    layer = L.Embedding(1000, 8)
    (table,) = layer.get_weights()
    assert [n for n, _ in layer.named_parameters()] == ["embeddings"]
    assert table.shape == (1000, 8) and np.abs(table).max() <= 0.05 and table.std() > 0.02
    given = np.arange(24, dtype=np.float32).reshape(6, 4)
    assert np.array_equal(L.Embedding(6, 4, weights=[given]).get_weights()[0], given)
    theirs = set(keras.layers.Embedding(6, 4).get_config()) - {"quantization_config"}
    assert theirs <= set(L.Embedding(6, 4, embeddings_regularizer="l2").get_config())
    assert callable(L.Embedding(6, 4, embeddings_regularizer="l2").embeddings_regularizer)


def test_embedding_input_length_is_a_deprecated_input_shape_hint():
    with pytest.warns(DeprecationWarning, match="input_length.*Keras 3.*input_shape=\\(10,\\)"):
        layer = L.Embedding(VOCAB, WIDTH, input_length=10)
    assert layer.batch_shape == (None, 10)


@pytest.mark.parametrize(
    ("tokens", "error", "match"),
    [
        (np.array([[1, 12]]), ConfigError, r"expected indices in \[0, 12\).*from 1 to 12"),
        (np.array([[-1, 3]]), ConfigError, r"expected indices in \[0, 12\).*from -1 to 3"),
        (np.array([[1.5, 2.0]]), InputTypeError, r"expected integer indices.*such as 1.5"),
        (np.array([["a", "b"]]), InputTypeError, "numeric"),
    ],
)
def test_embedding_bad_indices_say_what_was_expected(tokens, error, match):
    with pytest.raises(error, match=match):
        L.Embedding(VOCAB, WIDTH)(tokens)


@pytest.mark.parametrize(
    ("args", "match"), [((0, 4), "input_dim"), ((10, -1), "output_dim"), ((10.5, 4), "input_dim")]
)
def test_embedding_bad_sizes_raise(args, match):
    with pytest.raises(ConfigError, match=match):
        L.Embedding(*args)


# ----------------------------------------------------------------------------- Masking


def _padded(pattern: str) -> np.ndarray:
    x = rng_for("masking", pattern).normal(size=(4, 6, 3)).astype(np.float32)
    if pattern == "post":
        x[0, 4:] = 0.0
        x[1, 1:] = 0.0
    elif pattern == "pre":
        x[0, :2] = 0.0
        x[2, :5] = 0.0
    elif pattern == "holes":
        x[0, 2] = 0.0
        x[3, 1:4] = 0.0
    x[3, 5, 1] = 0.0  # one zero feature does not mask the step
    return x


@pytest.mark.parametrize("pattern", ["post", "pre", "holes"])
@pytest.mark.parametrize("return_sequences", [True, False])
def test_masking_then_lstm_matches_keras(pattern, return_sequences):
    x = _padded(pattern)
    ours = [L.Masking(), L.LSTM(5, return_sequences=return_sequences)]
    theirs = [
        keras.layers.Masking(),
        keras.layers.LSTM(5, return_sequences=return_sequences, use_cudnn=False),
    ]
    chain(ours, theirs, x, seed=pattern)


def test_masking_with_a_nonzero_mask_value_zeros_the_masked_steps():
    x = _padded("none")
    x[1, 2:4] = -1.0
    ours, theirs = L.Masking(mask_value=-1.0), keras.layers.Masking(mask_value=-1.0)
    out, _ = chain(
        [ours, L.SimpleRNN(3, return_sequences=True)],
        [theirs, keras.layers.SimpleRNN(3, return_sequences=True)],
        x,
    )
    masked = L.Masking(mask_value=-1.0)(torch.from_numpy(x))
    assert not masked[1, 2:4].any() and not kl.mask_of(masked)[1, 2:4].any()
    assert kl.mask_of(out).sum() == 4 * 6 - 2
    assert ours.get_config()["mask_value"] == -1.0


def test_masking_replaces_an_incoming_mask_like_keras():
    x = _padded("post")
    a, b = kl.with_mask(x, np.zeros((4, 6), dtype=bool))
    kl.assert_same(L.Masking()(a), keras.layers.Masking()(b))


def test_masking_symbolic_shape_and_passthrough_of_dense():
    assert (
        L.Masking()(L.Input((None, 3))).shape
        == keras.layers.Masking()(keras.Input((None, 3))).shape
    )
    x = _padded("post")
    chain(
        [L.Masking(), L.Dense(2), L.Activation("relu"), L.Dropout(0.5).eval()],
        [
            keras.layers.Masking(),
            keras.layers.Dense(2),
            keras.layers.Activation("relu"),
            keras.layers.Dropout(0.5),
        ],
        x,
    )


def test_a_functional_model_carries_the_embedding_mask():
    from unrolled.models import Model

    inputs = L.Input((6,), dtype="int64")
    hidden = L.LSTM(3, return_sequences=True)(L.Embedding(VOCAB, WIDTH, mask_zero=True)(inputs))
    model = Model(inputs, L.TimeDistributed(L.Dense(1))(hidden))
    keras_inputs = keras.Input((6,), dtype="int64")
    keras_hidden = keras.layers.LSTM(3, return_sequences=True, use_cudnn=False)(
        keras.layers.Embedding(VOCAB, WIDTH, mask_zero=True)(keras_inputs)
    )
    keras_model = keras.Model(
        keras_inputs, keras.layers.TimeDistributed(keras.layers.Dense(1))(keras_hidden)
    )
    weights = kl.random_weights(rng_for("model"), keras_model)
    keras_model.set_weights(weights)
    model.set_weights(weights)
    out = model(torch.from_numpy(TOKENS))
    kl.assert_same(out, keras_model(torch.from_numpy(TOKENS)))
    np.testing.assert_array_equal(kl.mask_of(out), TOKENS != 0)
