"""MultiHeadAttention against Keras 3: same weights (Keras's layout and order), same numbers.

Outputs and scores over the options, the masks the inputs carry joined with
`attention_mask` and the causal mask (rows with nothing to attend to included), a masked
Embedding-LSTM-MultiHeadAttention model's predictions and SGD step, save/load, configs and
bad input.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import torch
from oracles import keras_layers as kl
from oracles.keras_oracle import rng_for

import unrolled
import unrolled.layers as L
from unrolled.errors import ConfigError, ShapeError

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

QUERY, VALUE, KEY = (2, 3, 4), (2, 5, 6), (2, 5, 7)
QUERY_MASK = np.array([[1, 1, 0], [1, 0, 1]], bool)
VALUE_MASK = np.array([[1, 1, 1, 0, 0], [0, 0, 0, 0, 0]], bool)  # row 2: nothing to attend to
KEY_MASK = np.array([[1, 0, 1, 1, 1], [1, 1, 1, 1, 1]], bool)

OPTIONS = [
    {"num_heads": 2, "key_dim": 3},
    {"num_heads": 3, "key_dim": 2, "value_dim": 4, "use_bias": False, "output_shape": (2, 5)},
    {"num_heads": 2, "key_dim": 3, "output_shape": 7, "use_gate": True, "sliding_window": 2},
    {"num_heads": 1, "key_dim": 4, "dropout": 0.3},
]


def _pair(options: dict, key: bool):
    theirs = keras.layers.MultiHeadAttention(**options)
    ours = L.MultiHeadAttention(**options).eval()
    theirs.build(QUERY, VALUE, KEY if key else None)
    ours.build(QUERY, VALUE, KEY if key else None)
    kl.share_weights(rng_for("mha", repr(options), key), theirs, ours)
    return ours, theirs


def _arrays():
    rng = rng_for("mha inputs")
    return [rng.normal(size=s).astype(np.float32) for s in (QUERY, VALUE, KEY)]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: "-".join(map(str, o.values())))
@pytest.mark.parametrize("key", [False, True])
def test_outputs_scores_and_masks_match_keras(options, key):
    ours, theirs = _pair(options, key)
    query, value, key_array = _arrays()
    for masked in (False, True):
        for causal in (False, True):
            for scores in (False, True):
                masks = (QUERY_MASK, VALUE_MASK, KEY_MASK) if masked else (None, None, None)
                kq, oq = kl.with_mask(query, masks[0])
                kv, ov = kl.with_mask(value, masks[1])
                kk, ok = kl.with_mask(key_array, masks[2])
                kwargs = {"return_attention_scores": scores, "use_causal_mask": causal}
                want = theirs(kq, kv, *([kk] if key else []), **kwargs)
                got = ours(oq, ov, *([ok] if key else []), **kwargs)
                kl.assert_same(got, want)


@pytest.mark.parametrize("scores", [False, True])
def test_attention_mask_joins_the_input_masks_as_keras(scores):
    ours, theirs = _pair(OPTIONS[0], False)
    query, value, _ = _arrays()
    attention_mask = rng_for("mha attention mask").random((2, 3, 5)) > 0.4
    kq, oq = kl.with_mask(query, QUERY_MASK)
    kv, ov = kl.with_mask(value, None)
    want = theirs(kq, kv, attention_mask=attention_mask, return_attention_scores=scores)
    got = ours(
        oq, ov, attention_mask=torch.from_numpy(attention_mask), return_attention_scores=scores
    )
    kl.assert_same(got, want)


@pytest.mark.parametrize(
    ("query", "value", "axes"),
    [
        ((2, 3, 4, 5), (2, 3, 6, 5), None),
        ((2, 3, 4, 5), (2, 6, 4, 5), (1,)),
        ((2, 3, 4, 5), (2, 3, 6, 5), (-2,)),
        ((2, 3, 4, 5), (2, 6, 7, 5), (1, 2)),
    ],
)
def test_inputs_with_several_axes_attend_over_attention_axes_as_keras(query, value, axes):
    options = {"num_heads": 2, "key_dim": 3, "attention_axes": axes, "output_shape": (2, 3)}
    theirs = keras.layers.MultiHeadAttention(**options)
    ours = L.MultiHeadAttention(**options)
    theirs.build(query, value)
    ours.build(query, value)
    kl.share_weights(rng_for("mha axes", query, value, axes), theirs, ours)
    rng = rng_for("mha axes inputs", query, value)
    q, v = rng.normal(size=query).astype(np.float32), rng.normal(size=value).astype(np.float32)
    for scores in (False, True):
        want = theirs(q, v, return_attention_scores=scores)
        got = ours(torch.from_numpy(q), torch.from_numpy(v), return_attention_scores=scores)
        kl.assert_same(got, want)


def test_weights_are_in_keras_layout_and_order():
    theirs = keras.layers.MultiHeadAttention(num_heads=3, key_dim=2, value_dim=4, use_gate=True)
    ours = L.MultiHeadAttention(num_heads=3, key_dim=2, value_dim=4, use_gate=True)
    theirs.build(QUERY, VALUE)
    ours.build(QUERY, VALUE)
    assert [tuple(w.shape) for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
    assert [tuple(w.shape) for w in ours.weights][:2] == [(4, 3, 2), (3, 2)]
    assert ours.count_params() == theirs.count_params()


def test_symbolic_shapes_match_keras():
    k_query, k_value = keras.Input((4, 5)), keras.Input((4, 3))
    o_query, o_value = unrolled.Input((4, 5)), unrolled.Input((4, 3))
    options = {"num_heads": 2, "key_dim": 3, "output_shape": (2, 3)}
    want = keras.layers.MultiHeadAttention(**options)(
        k_query, k_value, return_attention_scores=True
    )
    got = L.MultiHeadAttention(**options)(o_query, o_value, return_attention_scores=True)
    # Keras writes the scores' shape with T twice; with T == S here the two agree.
    assert kl.symbolic_shapes(got) == kl.symbolic_shapes(want)


# -------------------------------------------------------- a functional model with masks


VOCAB, STEPS = 9, 6


def _model(lib):
    if lib is keras:
        layers, inputs = keras.layers, keras.Input((STEPS,), dtype="int64")
        recurrent = {"use_cudnn": False}
    else:
        layers, inputs, recurrent = L, unrolled.Input((STEPS,), dtype="int64"), {}
    x = layers.Embedding(VOCAB, 4, mask_zero=True)(inputs)
    h = layers.LSTM(5, return_sequences=True, **recurrent)(x)
    attended = layers.MultiHeadAttention(num_heads=2, key_dim=3)(h, h)
    pooled = layers.GlobalAveragePooling1D()(attended)
    outputs = layers.Dense(1, activation="sigmoid")(pooled)
    return (keras.Model if lib is keras else unrolled.Model)(inputs, outputs)


def _model_pair():
    ours, theirs = _model(unrolled), _model(keras)
    rng = rng_for("mha model")
    weights = [(rng.normal(size=w.shape) * 0.4).astype(np.float32) for w in theirs.get_weights()]
    theirs.set_weights(weights)
    ours.set_weights(weights)
    x = rng.integers(1, VOCAB, size=(8, STEPS))
    x[:, :2] = 0
    x[5, 4:] = 0
    y = rng.integers(0, 2, size=(8, 1)).astype(np.float32)
    return ours, theirs, x, y


def test_embedding_lstm_mha_model_sgd_step_matches_keras():
    ours, theirs, x, y = _model_pair()
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), **kl.TOL)
    ours.compile(optimizer=unrolled.optimizers.SGD(learning_rate=0.1), loss="binary_crossentropy")
    theirs.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="binary_crossentropy")
    ours.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    theirs.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for got, want in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_save_load_summary_and_config(tmp_path, capsys):
    ours, _, x, _ = _model_pair()
    path = tmp_path / "mha.unrolled"
    ours.save(path)
    loaded = unrolled.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), ours.predict(x, verbose=0), atol=1e-6)
    ours.summary()
    assert "(MultiHeadAttention)" in capsys.readouterr().out
    layer = L.MultiHeadAttention(
        4, 2, value_dim=3, dropout=0.1, output_shape=(2, 2), kernel_regularizer="l2", seed=1
    )
    config = layer.get_config()
    assert L.MultiHeadAttention.from_config(config).get_config() == config
    theirs = keras.layers.MultiHeadAttention(4, 2, value_dim=3, dropout=0.1, output_shape=(2, 2))
    for name in ("num_heads", "key_dim", "value_dim", "dropout", "use_bias", "output_shape"):
        assert config[name] == theirs.get_config()[name]


def test_kernel_regularizer_reaches_every_projection():
    layer = L.MultiHeadAttention(2, 3, kernel_regularizer=unrolled.regularizers.L2(0.5))
    layer.build(QUERY, VALUE)
    kernels = [w for w in layer.weights if w.dim() == 3]
    want = sum(0.5 * float((w.detach() ** 2).sum()) for w in kernels)
    assert len(kernels) == 4
    assert float(sum(layer.regularization_losses()).detach()) == pytest.approx(want, rel=1e-5)


def test_bad_arguments_and_inputs_say_what_was_expected():
    for options, match in [
        ({"num_heads": 0, "key_dim": 2}, "num_heads"),
        ({"num_heads": 2, "key_dim": 2.5}, "key_dim"),
        ({"num_heads": 2, "key_dim": 2, "value_dim": -1}, "value_dim"),
        ({"num_heads": 2, "key_dim": 2, "output_shape": "wide"}, "output_shape"),
        ({"num_heads": 2, "key_dim": 2, "attention_axes": "rows"}, "attention_axes"),
        ({"num_heads": 2, "key_dim": 2, "dropout": 0.5, "flash_attention": True}, "flash"),
    ]:
        with pytest.raises(ConfigError, match=match):
            L.MultiHeadAttention(**options)
    with pytest.raises(ShapeError, match="attention_axes"):
        L.MultiHeadAttention(2, 3, attention_axes=2)(torch.zeros(2, 3, 4), torch.zeros(2, 3, 4))
    layer = L.MultiHeadAttention(2, 3)
    with pytest.raises(ShapeError, match=r"\(samples, timesteps, features\)"):
        layer(torch.zeros(2, 4), torch.zeros(2, 4))
    with pytest.raises(ShapeError, match="except the last one"):
        layer(torch.zeros(2, 3, 4), torch.zeros(2, 5, 4), torch.zeros(2, 6, 4))
    layer(torch.zeros(2, 3, 4), torch.zeros(2, 5, 4))
    with pytest.raises(ShapeError, match="was built for"):
        layer(torch.zeros(2, 3, 8), torch.zeros(2, 5, 4))


def test_a_transformer_block_keeps_the_recorded_mask_as_keras_functional_models_do():
    # Keras's MHA takes the masks off x at run time, but in a functional model the pooling
    # gets the mask the graph recorded (x's, through the residual adds), as here.
    # (Stacking a second block differs: Keras's second MHA then gets no masks at all.)
    def build(lib):
        layers = keras.layers if lib is keras else L
        inputs = (keras.Input if lib is keras else unrolled.Input)((STEPS,), dtype="int64")
        x = layers.Embedding(VOCAB, 4, mask_zero=True)(inputs)
        x = layers.LSTM(4, return_sequences=True, **({"use_cudnn": False} if lib is keras else {}))(
            x
        )
        attended = layers.MultiHeadAttention(num_heads=2, key_dim=3)(x, x)
        x = layers.LayerNormalization()(layers.add([x, attended]))
        x = layers.add([x, layers.Dense(4)(layers.Dense(6, activation="relu")(x))])
        pooled = layers.GlobalAveragePooling1D()(x)
        return (keras.Model if lib is keras else unrolled.Model)(inputs, pooled)

    ours, theirs = build(unrolled), build(keras)
    rng = rng_for("transformer blocks")
    weights = [(rng.normal(size=w.shape) * 0.4).astype(np.float32) for w in theirs.get_weights()]
    theirs.set_weights(weights)
    ours.set_weights(weights)
    x = rng.integers(1, VOCAB, size=(4, STEPS))
    x[:, 4:] = 0
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), **kl.TOL)


def test_an_eager_call_leaves_the_inputs_masks():
    x = torch.ones(2, 3, 4)
    x._keras_mask = torch.tensor([[True, True, False], [True, False, False]])
    output = L.MultiHeadAttention(2, 3)(x, x)
    assert kl.mask_of(x) is not None
    np.testing.assert_array_equal(kl.mask_of(output), kl.mask_of(x))


def test_keras_files_with_attention_and_merge_layers_import(tmp_path):
    from unrolled.interop import from_keras

    inputs = keras.Input((STEPS,), dtype="int64")
    x = keras.layers.Embedding(VOCAB, 4, mask_zero=True)(inputs)
    h = keras.layers.LSTM(5, return_sequences=True, use_cudnn=False)(x)
    a = keras.layers.Attention(use_scale=True, score_mode="concat")([h, h])
    b = keras.layers.AdditiveAttention()([h, a])
    m = keras.layers.MultiHeadAttention(2, 3, use_gate=True, output_shape=4)(b, h)
    joined = keras.layers.Dot(axes=2)(
        [keras.layers.Maximum()([m, m]), keras.layers.Minimum()([m, m])]
    )
    outputs = keras.layers.Dense(1)(keras.layers.Flatten()(keras.layers.Permute((2, 1))(joined)))
    theirs = keras.Model(inputs, outputs)
    rng = rng_for("mha import")
    theirs.set_weights(
        [(rng.normal(size=w.shape) * 0.4).astype(np.float32) for w in theirs.get_weights()]
    )
    x = rng.integers(1, VOCAB, size=(4, STEPS))
    x[:, :2] = 0
    path = tmp_path / "attention.keras"
    theirs.save(path)
    ours = from_keras(path)
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), **kl.TOL)
