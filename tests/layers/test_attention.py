"""Attention and AdditiveAttention against Keras 3: same weights, same data, same numbers.

Outputs, scores and output masks over the options, masks given as `mask=` and carried by
the inputs, the causal mask, a functional model whose masks come from Embedding(mask_zero)
through an LSTM (predictions and one SGD step), save/load, configs and bad input.
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

QUERY, VALUE = (3, 4, 5), (3, 6, 5)
QUERY_MASK = np.array([[1, 1, 1, 0], [1, 0, 1, 1], [0, 0, 0, 0]], bool)
VALUE_MASK = np.array([[1, 1, 1, 1, 0, 0], [0, 1, 1, 0, 1, 1], [0, 0, 0, 0, 0, 0]], bool)

OPTIONS = [
    ("Attention", {}),
    ("Attention", {"use_scale": True}),
    ("Attention", {"score_mode": "concat"}),
    ("Attention", {"score_mode": "concat", "use_scale": True}),
    ("AdditiveAttention", {}),
    ("AdditiveAttention", {"use_scale": False}),
]


def _pair(name: str, options: dict, key: bool = False):
    shapes = [QUERY, VALUE, VALUE] if key else [QUERY, VALUE]
    theirs = getattr(keras.layers, name)(**options)
    ours = getattr(L, name)(**options)
    theirs.build(shapes)
    ours.build(shapes)
    kl.share_weights(rng_for("attention", name, options), theirs, ours)
    return ours, theirs


def _inputs(key: bool):
    rng = rng_for("attention inputs", key)
    shapes = [QUERY, VALUE, VALUE] if key else [QUERY, VALUE]
    return [rng.normal(size=s).astype(np.float32) for s in shapes]


@pytest.mark.parametrize(("name", "options"), OPTIONS)
@pytest.mark.parametrize("use_causal_mask", [False, True])
@pytest.mark.parametrize("key", [False, True])
def test_outputs_scores_and_masks_match_keras(name, options, use_causal_mask, key):
    ours, theirs = _pair(name, options, key)
    arrays = _inputs(key)
    for masks in [None, [QUERY_MASK, None], [None, VALUE_MASK], [QUERY_MASK, VALUE_MASK]]:
        for scores in (False, True):
            kwargs = {"return_attention_scores": scores, "use_causal_mask": use_causal_mask}
            mask_args = {} if masks is None else {"mask": masks}
            want = theirs(arrays, **mask_args, **kwargs)
            torch_masks = (
                None
                if masks is None
                else [None if m is None else torch.from_numpy(m) for m in masks]
            )
            got = ours(
                [torch.from_numpy(a) for a in arrays],
                **({} if torch_masks is None else {"mask": torch_masks}),
                **kwargs,
            )
            kl.assert_same(got, want)


@pytest.mark.parametrize(("name", "options"), OPTIONS[:1] + OPTIONS[4:5])
def test_masks_carried_by_the_inputs_act_as_keras(name, options):
    ours, theirs = _pair(name, options)
    query, value = _inputs(False)
    kq, oq = kl.with_mask(query, QUERY_MASK)
    kv, ov = kl.with_mask(value, VALUE_MASK)
    want = theirs([kq, kv], return_attention_scores=True)
    got = ours([oq, ov], return_attention_scores=True)
    kl.assert_same(got, want)
    assert kl.mask_of(got[0]) is not None  # the query's mask goes on


def test_dropout_is_off_in_inference_and_drops_weights_in_training():
    ours = L.Attention(dropout=0.5, seed=3)
    plain = L.Attention()
    query, value = (torch.from_numpy(a) for a in _inputs(False))
    np.testing.assert_allclose(
        ours([query, value], training=False).numpy(), plain([query, value]).numpy()
    )
    output, weights = ours([query, value], training=True, return_attention_scores=True)
    _, undropped = plain([query, value], return_attention_scores=True)
    kept = weights != 0
    # Kept weights are scaled by 1 / (1 - rate); the output is the dropped weights' average.
    np.testing.assert_allclose(weights[kept].numpy(), 2 * undropped[kept].numpy(), rtol=1e-6)
    np.testing.assert_allclose(output.numpy(), (weights @ value).numpy(), rtol=1e-5, atol=1e-6)
    assert 0 < kept.float().mean() < 1


def test_symbolic_shapes_match_keras_with_and_without_scores():
    for scores in (False, True):
        k_query, k_value = keras.Input((4, 5)), keras.Input((None, 3))
        o_query, o_value = unrolled.Input((4, 5)), unrolled.Input((None, 3))
        want = keras.layers.Attention()(
            [k_query, k_value, keras.Input((None, 5))], return_attention_scores=scores
        )
        got = L.Attention()(
            [o_query, o_value, unrolled.Input((None, 5))], return_attention_scores=scores
        )
        assert kl.symbolic_shapes(got) == kl.symbolic_shapes(want)


# -------------------------------------------------------- a functional model with masks


VOCAB, STEPS = 9, 6


def _model(lib, layer: str):
    if lib is keras:
        layers, inputs = keras.layers, keras.Input((STEPS,), dtype="int64")
        recurrent = {"use_cudnn": False}
    else:
        layers, inputs, recurrent = L, unrolled.Input((STEPS,), dtype="int64"), {}
    x = layers.Embedding(VOCAB, 4, mask_zero=True)(inputs)
    h = layers.LSTM(5, return_sequences=True, **recurrent)(x)
    attended = getattr(layers, layer)()([h, h])
    pooled = layers.GlobalAveragePooling1D()(attended)
    outputs = layers.Dense(1, activation="sigmoid")(pooled)
    return (keras.Model if lib is keras else unrolled.Model)(inputs, outputs)


def _model_pair(layer: str):
    ours, theirs = _model(unrolled, layer), _model(keras, layer)
    rng = rng_for("attention model", layer)
    weights = [(rng.normal(size=w.shape) * 0.4).astype(np.float32) for w in theirs.get_weights()]
    theirs.set_weights(weights)
    ours.set_weights(weights)
    x = rng.integers(1, VOCAB, size=(8, STEPS))
    x[:, :2] = 0  # pre-padding, masked by the Embedding
    x[5, 4:] = 0  # and a hole at the end of one row
    y = rng.integers(0, 2, size=(8, 1)).astype(np.float32)
    return ours, theirs, x, y


@pytest.mark.parametrize("layer", ["Attention", "AdditiveAttention"])
def test_embedding_lstm_attention_model_sgd_step_matches_keras(layer):
    ours, theirs, x, y = _model_pair(layer)
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), **kl.TOL)
    ours.compile(optimizer=unrolled.optimizers.SGD(learning_rate=0.1), loss="binary_crossentropy")
    theirs.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="binary_crossentropy")
    ours.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    theirs.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for got, want in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_the_mask_reaches_the_attention_in_the_model():
    ours, theirs, x, _ = _model_pair("Attention")
    # The attention's output in each library: its mask is the query's, from the Embedding.
    sub_ours = unrolled.Model(ours.input, ours.layers[3].output)
    sub_theirs = keras.Model(theirs.input, theirs.layers[3].output)
    kl.assert_same(sub_ours(torch.as_tensor(x)), sub_theirs(x))
    np.testing.assert_array_equal(kl.mask_of(sub_ours(torch.as_tensor(x))), x != 0)


def test_save_load_summary_and_config(tmp_path, capsys):
    ours, _, x, _ = _model_pair("AdditiveAttention")
    path = tmp_path / "attention.unrolled"
    ours.save(path)
    loaded = unrolled.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), ours.predict(x, verbose=0), atol=1e-6)
    ours.summary()
    assert "(AdditiveAttention)" in capsys.readouterr().out
    for layer in [
        L.Attention(use_scale=True, score_mode="concat", dropout=0.1, seed=2),
        L.AdditiveAttention(use_scale=False),
    ]:
        config = layer.get_config()
        assert type(layer).from_config(config).get_config() == config
        keras_config = getattr(keras.layers, type(layer).__name__)(
            **{
                k: v
                for k, v in config.items()
                if k not in ("name", "dtype", "trainable", "activity_regularizer")
            }
        ).get_config()
        assert {
            k: config[k] for k in keras_config if k in config and k not in ("name", "dtype")
        } == {
            k: keras_config[k] for k in keras_config if k in config and k not in ("name", "dtype")
        }


def test_symbolic_scores_output_survives_save_load(tmp_path):
    query, value = unrolled.Input((4, 5)), unrolled.Input((6, 5))
    output, scores = L.Attention(use_scale=True)(
        [query, value], return_attention_scores=True, use_causal_mask=True
    )
    model = unrolled.Model([query, value], [output, scores])
    arrays = _inputs(False)
    path = tmp_path / "scores.unrolled"
    model.save(path)
    loaded = unrolled.models.load_model(path)
    for got, want in zip(loaded.predict(arrays, verbose=0), model.predict(arrays, verbose=0)):
        np.testing.assert_allclose(got, want, atol=1e-6)


def test_bad_arguments_and_inputs_say_what_was_expected():
    with pytest.raises(ConfigError, match="score_mode"):
        L.Attention(score_mode="add")
    with pytest.raises(ConfigError, match="dropout"):
        L.Attention(dropout=1.5)
    layer = L.Attention()
    with pytest.raises(ShapeError, match=r"\[query, value\]"):
        layer(torch.zeros(2, 3, 4))
    with pytest.raises(ShapeError, match=r"\(samples, Tq, dim\)"):
        layer([torch.zeros(2, 4), torch.zeros(2, 4)])
    with pytest.raises(ShapeError, match="same features axis"):
        layer([torch.zeros(2, 3, 4), torch.zeros(2, 5, 6)])
    with pytest.raises(ShapeError, match="timesteps axis"):
        layer([torch.zeros(2, 3, 4), torch.zeros(2, 5, 4), torch.zeros(2, 6, 4)])
    with pytest.raises(ShapeError, match="query_mask, value_mask"):
        layer([torch.zeros(2, 3, 4), torch.zeros(2, 5, 4)], mask=torch.ones(2, 3))
