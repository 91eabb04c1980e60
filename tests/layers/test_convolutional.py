"""Conv1D and the 1-D poolings against Keras 3: same weights, same data, same numbers.

Also: output shapes against Keras's `compute_output_shape`, masks through the global
poolings, one SGD step of the text-classifier stack, a save/load round trip, bad input,
and Keras 1's argument names.
"""

from __future__ import annotations

import warnings

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


def _data(*shape: int, key: object = None) -> np.ndarray:
    return rng_for("conv", shape, key).normal(size=shape).astype(np.float32)


def _keras_out(layer, x, **kwargs) -> np.ndarray:
    return keras.ops.convert_to_numpy(layer(x, **kwargs))


def _ours_out(layer, x, **kwargs) -> np.ndarray:
    with torch.no_grad():
        return layer(torch.as_tensor(x), **kwargs).numpy()


# ----------------------------------------------------------------------------- Conv1D


@pytest.mark.parametrize("padding", ["valid", "same", "causal"])
@pytest.mark.parametrize(
    ("strides", "dilation_rate", "kernel_size"), [(1, 1, 3), (2, 1, 3), (3, 1, 2), (1, 2, 3)]
)
@pytest.mark.parametrize(
    ("groups", "activation", "use_bias"), [(1, None, True), (2, "relu", False), (1, "tanh", False)]
)
def test_conv1d_matches_keras(
    padding, strides, dilation_rate, kernel_size, groups, activation, use_bias
):
    args = dict(
        strides=strides,
        padding=padding,
        dilation_rate=dilation_rate,
        groups=groups,
        activation=activation,
        use_bias=use_bias,
    )
    shape = (3, 9, 4)
    theirs = keras.layers.Conv1D(6, kernel_size, **args)
    ours = L.Conv1D(6, kernel_size, **args)
    theirs.build(shape)
    ours.build(shape)
    kl.share_weights(rng_for("conv1d", padding, strides, groups), theirs, ours)
    x = _data(*shape)
    want = _keras_out(theirs, x)
    got = _ours_out(ours, x)
    np.testing.assert_allclose(got, want, **kl.TOL)
    assert ours.compute_output_shape((None, 9, 4)) == theirs.compute_output_shape((None, 9, 4))
    assert ours.compute_output_shape((None, None, 4)) == theirs.compute_output_shape(
        (None, None, 4)
    )


def test_conv1d_weights_are_in_keras_layout():
    theirs = keras.layers.Conv1D(6, 3, groups=2)
    ours = L.Conv1D(6, 3, groups=2)
    theirs.build((None, 5, 4))
    ours.build((None, 5, 4))
    assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in theirs.get_weights()]
    assert [w.shape for w in ours.get_weights()] == [(3, 2, 6), (6,)]


def test_conv1d_refuses_channels_first_and_keras_refusals():
    with pytest.raises(ConfigError, match="channels_last"):
        L.Conv1D(4, 3, data_format="channels_first")
    with pytest.raises(ConfigError, match="dilation_rate"):
        L.Conv1D(4, 3, strides=2, dilation_rate=2)
    with pytest.raises(ConfigError, match="groups"):
        L.Conv1D(5, 3, groups=2)
    with pytest.raises(ConfigError, match="padding"):
        L.Conv1D(5, 3, padding="full")


@pytest.mark.parametrize(
    "layer",
    [
        lambda: L.Conv1D(4, 3),
        lambda: L.MaxPooling1D(),
        lambda: L.AveragePooling1D(),
        lambda: L.GlobalMaxPooling1D(),
        lambda: L.GlobalAveragePooling1D(),
    ],
    ids=["conv", "max", "avg", "gmax", "gavg"],
)
@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 4, 5)], ids=["2d", "4d"])
def test_wrong_rank_raises_shape_error_naming_the_axes(layer, shape):
    with pytest.raises(ShapeError, match=r"\(samples, timesteps, features\)"):
        layer()(torch.zeros(shape))


def test_conv1d_features_not_divisible_by_groups_raise_shape_error():
    with pytest.raises(ShapeError, match="groups=2"):
        L.Conv1D(4, 3, groups=2)(torch.zeros(2, 5, 3))


def test_conv1d_drops_a_mask_with_a_warning_as_keras():
    x = torch.as_tensor(_data(2, 6, 3))
    x._keras_mask = torch.ones(2, 6, dtype=torch.bool)
    with pytest.warns(UserWarning, match="does not support masking"):
        y = L.Conv1D(4, 3)(x)
    assert getattr(y, "_keras_mask", None) is None


# ----------------------------------------------------------------------------- pooling


@pytest.mark.parametrize("kind", ["MaxPooling1D", "AveragePooling1D"])
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize(
    ("pool_size", "strides", "steps"), [(2, None, 8), (3, 1, 7), (3, 2, 7), (2, 3, 9)]
)
def test_pooling_matches_keras(kind, padding, pool_size, strides, steps):
    x = _data(2, steps, 3, key=(kind, padding, pool_size))
    theirs = getattr(keras.layers, kind)(pool_size, strides=strides, padding=padding)
    ours = getattr(L, kind)(pool_size, strides=strides, padding=padding)
    np.testing.assert_allclose(_ours_out(ours, x), _keras_out(theirs, x), **kl.TOL)
    for shape in [(None, steps, 3), (None, None, 3)]:
        assert ours.compute_output_shape(shape) == theirs.compute_output_shape(shape)


def test_same_average_pooling_counts_real_timesteps_only():
    # steps=4, pool 3, stride 2: Keras's "same" pads 0 before and 1 after; the last window
    # covers steps 2..3 and the padding, and averages the two real steps. (Keras 3's torch
    # backend repeats the edge step here and gives 4.33: see AveragePooling1D's docstring.)
    x = torch.tensor([[[1.0], [2.0], [3.0], [5.0]]])
    y = L.AveragePooling1D(3, strides=2, padding="same")(x)
    np.testing.assert_allclose(y.squeeze().numpy(), [2.0, 4.0])


@pytest.mark.parametrize("kind", ["GlobalMaxPooling1D", "GlobalAveragePooling1D"])
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling_matches_keras(kind, keepdims):
    x = _data(3, 5, 4, key=kind)
    theirs = getattr(keras.layers, kind)(keepdims=keepdims)
    ours = getattr(L, kind)(keepdims=keepdims)
    np.testing.assert_allclose(_ours_out(ours, x), _keras_out(theirs, x), **kl.TOL)
    for shape in [(None, 5, 4), (None, None, 4)]:
        assert ours.compute_output_shape(shape) == theirs.compute_output_shape(shape)


def _masked_ids() -> np.ndarray:
    return np.array([[3, 1, 4, 0, 0], [2, 7, 1, 8, 2], [5, 0, 0, 0, 0]], dtype=np.int64)


@pytest.mark.parametrize("kind", ["GlobalMaxPooling1D", "GlobalAveragePooling1D"])
def test_global_pooling_after_embedding_mask_zero_matches_keras(kind):
    ids = _masked_ids()
    theirs = keras.Sequential(
        [
            keras.Input((5,), dtype="int64"),
            keras.layers.Embedding(10, 3, mask_zero=True),
            getattr(keras.layers, kind)(),
        ]
    )
    ours = unrolled.Sequential([L.Embedding(10, 3, mask_zero=True), getattr(L, kind)()])
    ours.build((None, 5))
    weights = [(rng_for("emb", kind).normal(size=(10, 3))).astype(np.float32)]
    theirs.set_weights(weights)
    ours.set_weights(weights)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # max pooling drops the mask, in both
        want = keras.ops.convert_to_numpy(theirs(ids))
        with torch.no_grad():
            got = ours(torch.as_tensor(ids)).numpy()
    np.testing.assert_allclose(got, want, **kl.TOL)


def test_global_average_pooling_with_mask_argument_matches_keras():
    x = _data(3, 5, 4)
    mask = np.array([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1], [0, 1, 0, 1, 0]], dtype=bool)
    want = _keras_out(keras.layers.GlobalAveragePooling1D(), x, mask=mask)
    got = _ours_out(L.GlobalAveragePooling1D(), x, mask=torch.as_tensor(mask))
    np.testing.assert_allclose(got, want, **kl.TOL)
    manual = np.stack([x[i][mask[i]].mean(axis=0) for i in range(3)])
    np.testing.assert_allclose(got, manual, **kl.TOL)


def test_global_average_pooling_after_masking_matches_keras():
    x = _data(3, 5, 2)
    x[0, 3:] = 0.0
    x[2, :2] = 0.0
    theirs = keras.Sequential(
        [keras.Input((5, 2)), keras.layers.Masking(0.0), keras.layers.GlobalAveragePooling1D()]
    )
    ours = unrolled.Sequential([L.Masking(0.0), L.GlobalAveragePooling1D()])
    np.testing.assert_allclose(_ours_out(ours, x), _keras_out(theirs, x), **kl.TOL)


# ----------------------------------------------------------------------------- models

VOCAB, STEPS = 20, 12


def _classifier_pair():
    ours = unrolled.Sequential(
        [
            L.Embedding(VOCAB, 6, input_shape=(STEPS,)),
            L.Conv1D(5, 3, padding="same", activation="relu"),
            L.MaxPooling1D(2),
            L.LSTM(4),
            L.Dense(1, activation="sigmoid"),
        ]
    )
    ours.build((None, STEPS))
    theirs = keras.Sequential(
        [
            keras.Input((STEPS,), dtype="int64"),
            keras.layers.Embedding(VOCAB, 6),
            keras.layers.Conv1D(5, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling1D(2),
            keras.layers.LSTM(4, use_cudnn=False),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    rng = rng_for("classifier")
    weights = [(rng.normal(size=w.shape) * 0.3).astype(np.float32) for w in theirs.get_weights()]
    theirs.set_weights(weights)
    ours.set_weights(weights)
    x = rng.integers(1, VOCAB, size=(16, STEPS)).astype(np.int64)
    y = rng.integers(0, 2, size=(16, 1)).astype(np.float32)
    return ours, theirs, x, y


def test_text_classifier_sgd_step_matches_keras():
    ours, theirs, x, y = _classifier_pair()
    with torch.no_grad():
        np.testing.assert_allclose(
            ours(torch.as_tensor(x)).numpy(), keras.ops.convert_to_numpy(theirs(x)), **kl.TOL
        )
    ours.compile(optimizer=unrolled.optimizers.SGD(learning_rate=0.1), loss="binary_crossentropy")
    theirs.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="binary_crossentropy")
    ours.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    theirs.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    for got, want in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_text_classifier_save_load_predicts_the_same(tmp_path):
    ours, _, x, _ = _classifier_pair()
    path = tmp_path / "classifier.unrolled"
    ours.save(path)
    loaded = unrolled.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), ours.predict(x, verbose=0), atol=1e-6)


def test_config_round_trip_of_every_layer():
    for layer in [
        L.Conv1D(4, 3, strides=2, padding="same", groups=2, activation="relu", use_bias=False),
        L.MaxPooling1D(3, strides=1, padding="same"),
        L.AveragePooling1D(2),
        L.GlobalMaxPooling1D(keepdims=True),
        L.GlobalAveragePooling1D(),
    ]:
        config = layer.get_config()
        assert type(layer).from_config(config).get_config() == config


def test_summary_and_explain_text_do_not_crash():
    from unrolled.explain import explain_text

    ours, *_ = _classifier_pair()
    ours.summary()
    text = explain_text(ours)
    assert "(Conv1D)" in text and "(MaxPooling1D)" in text
    assert "(samples, timesteps=6, features=5)" in text  # after MaxPooling1D(2)


# ----------------------------------------------------------------------------- Keras 1 names


def test_convolution1d_takes_keras1_names_with_a_warning():
    with pytest.warns(DeprecationWarning, match="nb_filter"):
        old = L.Convolution1D(nb_filter=4, filter_length=3, border_mode="same", subsample_length=2)
    new = L.Conv1D(filters=4, kernel_size=3, padding="same", strides=2)
    assert {**old.get_config(), "name": None} == {**new.get_config(), "name": None}


def test_max_pooling1d_takes_keras1_names_with_a_warning():
    with pytest.warns(DeprecationWarning, match="pool_length"):
        old = L.MaxPooling1D(pool_length=3, stride=1)
    new = L.MaxPooling1D(pool_size=3, strides=1)
    assert {**old.get_config(), "name": None} == {**new.get_config(), "name": None}


def test_text_classifier_exports_to_onnx_and_runs_in_onnxruntime(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from unrolled.interop import to_onnx

    ours, _, x, _ = _classifier_pair()
    sig = to_onnx(ours, tmp_path / "classifier.onnx")
    got = ort.InferenceSession(str(sig.path)).run(None, {sig.inputs[0]: x})[0]
    np.testing.assert_allclose(got, ours.predict(x, verbose=0), atol=1e-5)


def test_conv1d_stack_from_a_keras_file_predicts_as_keras(tmp_path):
    from unrolled.interop import from_keras

    theirs = keras.Sequential(
        [
            keras.Input((9, 3)),
            keras.layers.ZeroPadding1D((2, 1)),
            keras.layers.Conv1D(4, 3, padding="causal", dilation_rate=2, activation="relu"),
            keras.layers.MaxPooling1D(2, padding="same"),
            keras.layers.UpSampling1D(2),
            keras.layers.Cropping1D((1, 0)),
            keras.layers.Conv1D(4, 2, strides=2, groups=2, use_bias=False),
            keras.layers.AveragePooling1D(2),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(2),
        ]
    )
    theirs.set_weights(kl.random_weights(rng_for("conv1d-file"), theirs))
    theirs.save(tmp_path / "conv1d.keras")
    ours = from_keras(tmp_path / "conv1d.keras")
    x = _data(3, 9, 3, key="file")
    np.testing.assert_allclose(
        ours.predict(x, verbose=0), keras.ops.convert_to_numpy(theirs(x)), **kl.TOL
    )


def test_convolution1d_saves_and_loads_under_its_own_name(tmp_path):
    model = unrolled.Sequential([L.Convolution1D(3, 2, input_shape=(5, 2)), L.GlobalMaxPooling1D()])
    model.save(tmp_path / "m.unrolled")
    loaded = unrolled.load_model(tmp_path / "m.unrolled")
    assert type(loaded.layers[0]) is L.Convolution1D
    x = _data(2, 5, 2)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (
            lambda: L.Conv1D(4, 3, strides=2, padding="causal", groups=2),
            lambda: keras.layers.Conv1D(4, 3, strides=2, padding="causal", groups=2),
        ),
        (
            lambda: L.MaxPooling1D(3, padding="same"),
            lambda: keras.layers.MaxPooling1D(3, padding="same"),
        ),
        (lambda: L.AveragePooling1D(2, 1), lambda: keras.layers.AveragePooling1D(2, 1)),
        (lambda: L.GlobalAveragePooling1D(), lambda: keras.layers.GlobalAveragePooling1D()),
        (
            lambda: L.GlobalMaxPooling1D(keepdims=True),
            lambda: keras.layers.GlobalMaxPooling1D(keepdims=True),
        ),
    ],
    ids=["conv", "max", "avg", "gavg", "gmax"],
)
def test_config_options_read_as_keras_writes_them(ours, theirs):
    mine, keras_config = ours().get_config(), theirs().get_config()
    for key in set(mine) & set(keras_config) - {"name", "dtype", "trainable"}:
        want = keras_config[key]
        if isinstance(want, dict):  # Keras serializes initializers as objects
            continue
        assert mine[key] == want, key


def test_conv1d_kernel_regularizer_penalty_matches_keras():
    theirs = keras.layers.Conv1D(4, 3, kernel_regularizer="l2", bias_regularizer="l1")
    ours = L.Conv1D(4, 3, kernel_regularizer="l2", bias_regularizer="l1")
    theirs.build((None, 6, 2))
    ours.build((None, 6, 2))
    kl.share_weights(rng_for("conv-reg"), theirs, ours)
    want = sum(float(keras.ops.convert_to_numpy(loss)) for loss in theirs.losses)
    got = sum(float(loss) for loss in ours.regularization_losses())
    np.testing.assert_allclose(got, want, rtol=1e-5)
