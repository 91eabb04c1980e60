"""Conv2D and Conv3D against Keras 3: same weights, same data, same numbers.

Also: Keras's weight layout, output shapes against Keras's `compute_output_shape`, config
round trips and Keras's config values, bad input, save/load in a model, summary, Keras 1's
`Convolution2D(nb_filter, nb_row, nb_col)`, and regularizer penalties.
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


def _data(*shape: int, key: object = None) -> np.ndarray:
    return rng_for("conv-nd", shape, key).normal(size=shape).astype(np.float32)


def _pair(kind: str, *args, shape, **kwargs):
    theirs = getattr(keras.layers, kind)(*args, **kwargs)
    ours = getattr(L, kind)(*args, **kwargs)
    theirs.build(shape)
    ours.build(shape)
    kl.share_weights(rng_for(kind, args, sorted(kwargs.items())), theirs, ours)
    return ours, theirs


def _compare(ours, theirs, x: np.ndarray) -> None:
    want = keras.ops.convert_to_numpy(theirs(x))
    with torch.no_grad():
        got = ours(torch.as_tensor(x)).numpy()
    np.testing.assert_allclose(got, want, **kl.TOL)


# 9 x 7 images: odd sizes, so "same" pads unevenly at stride 2 and 3.
@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize(
    ("kernel_size", "strides", "dilation_rate"),
    [(3, 1, 1), ((2, 3), (2, 1), 1), (3, 3, 1), ((3, 2), 1, (2, 1)), (2, 2, 1)],
)
@pytest.mark.parametrize(
    ("groups", "activation", "use_bias"), [(1, None, True), (2, "relu", False)]
)
def test_conv2d_matches_keras(
    padding, kernel_size, strides, dilation_rate, groups, activation, use_bias
):
    shape = (2, 9, 7, 4)
    ours, theirs = _pair(
        "Conv2D",
        6,
        kernel_size,
        shape=shape,
        strides=strides,
        padding=padding,
        dilation_rate=dilation_rate,
        groups=groups,
        activation=activation,
        use_bias=use_bias,
    )
    _compare(ours, theirs, _data(*shape, key=(padding, kernel_size, strides)))
    for probe in [(None, 9, 7, 4), (None, None, 7, 4), (None, None, None, 4)]:
        assert ours.compute_output_shape(probe) == tuple(theirs.compute_output_shape(probe))


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize(
    ("kernel_size", "strides", "dilation_rate", "groups"),
    [(2, 1, 1, 1), ((3, 2, 2), (2, 1, 2), 1, 1), (2, 1, (1, 2, 1), 3)],
)
def test_conv3d_matches_keras(padding, kernel_size, strides, dilation_rate, groups):
    shape = (2, 5, 6, 5, 3)
    ours, theirs = _pair(
        "Conv3D",
        3,
        kernel_size,
        shape=shape,
        strides=strides,
        padding=padding,
        dilation_rate=dilation_rate,
        groups=groups,
        activation="tanh",
    )
    _compare(ours, theirs, _data(*shape, key=(padding, kernel_size)))
    for probe in [(None, 5, 6, 5, 3), (None, None, 6, None, 3)]:
        assert ours.compute_output_shape(probe) == tuple(theirs.compute_output_shape(probe))


@pytest.mark.parametrize(
    ("kind", "shape", "want"),
    [
        ("Conv2D", (None, 6, 5, 4), [(3, 2, 2, 6), (6,)]),
        ("Conv3D", (None, 4, 6, 5, 4), [(3, 2, 2, 2, 6), (6,)]),
    ],
)
def test_weights_are_in_keras_layout_and_order(kind, shape, want):
    kernel = (3, 2) if kind == "Conv2D" else (3, 2, 2)
    theirs = getattr(keras.layers, kind)(6, kernel, groups=2)
    ours = getattr(L, kind)(6, kernel, groups=2)
    theirs.build(shape)
    ours.build(shape)
    assert [w.shape for w in ours.get_weights()] == want
    assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in theirs.get_weights()]
    assert ours.count_params() == theirs.count_params()


def test_conv2d_default_initializers_draw_keras_distributions():
    # glorot_uniform: limit sqrt(6 / (fan_in + fan_out)), fans counting the window.
    layer = L.Conv2D(8, 3)
    layer.build((None, 10, 10, 4))
    limit = np.sqrt(6.0 / (3 * 3 * 4 + 3 * 3 * 8))
    kernel = layer.get_weights()[0]
    assert np.abs(kernel).max() <= limit
    assert np.abs(kernel).max() > 0.8 * limit
    np.testing.assert_array_equal(layer.get_weights()[1], np.zeros(8, np.float32))


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (
            lambda: L.Conv2D(4, (3, 2), strides=2, padding="same", groups=2, use_bias=False),
            lambda: keras.layers.Conv2D(
                4, (3, 2), strides=2, padding="same", groups=2, use_bias=False
            ),
        ),
        (
            lambda: L.Conv3D(4, 3, dilation_rate=2, activation="relu"),
            lambda: keras.layers.Conv3D(4, 3, dilation_rate=2, activation="relu"),
        ),
    ],
    ids=["conv2d", "conv3d"],
)
def test_config_reads_as_keras_writes_it_and_round_trips(ours, theirs):
    layer = ours()
    mine, keras_config = layer.get_config(), theirs().get_config()
    for key in set(mine) & set(keras_config) - {"name", "dtype", "trainable"}:
        if isinstance(keras_config[key], dict):  # Keras serializes initializers as objects
            continue
        assert mine[key] == keras_config[key], key
    assert type(layer).from_config(mine).get_config() == mine


def test_keras_refusals_are_config_errors():
    with pytest.raises(ConfigError, match="channels_last"):
        L.Conv2D(4, 3, data_format="channels_first")
    with pytest.raises(ConfigError, match="dilation_rate"):
        L.Conv2D(4, 3, strides=(1, 2), dilation_rate=(2, 1))
    with pytest.raises(ConfigError, match="groups"):
        L.Conv3D(5, 3, groups=2)
    with pytest.raises(ConfigError, match="causal"):
        L.Conv2D(4, 3, padding="causal")
    with pytest.raises(ConfigError, match="tuple of 2"):
        L.Conv2D(4, (3, 3, 3))
    with pytest.raises(ConfigError, match="kernel_size"):
        L.Conv2D(4, (3, 0))
    with pytest.raises(ConfigError, match="filters"):
        L.Conv3D(0, 3)


@pytest.mark.parametrize(
    ("layer", "expected", "shape"),
    [
        (lambda: L.Conv2D(4, 3), r"\(samples, rows, cols, channels\)", (2, 5, 5)),
        (lambda: L.Conv2D(4, 3), r"TimeDistributed", (2, 3, 5, 5, 2)),
        (lambda: L.Conv3D(4, 3), r"\(samples, depth, rows, cols, channels\)", (2, 5, 5, 2)),
    ],
)
def test_wrong_rank_raises_shape_error_naming_the_axes(layer, expected, shape):
    with pytest.raises(ShapeError, match=expected):
        layer()(torch.zeros(shape))
    with pytest.raises(ShapeError, match=expected):
        layer().compute_output_shape(shape)


def test_channels_not_divisible_by_groups_or_changed_raise_shape_error():
    with pytest.raises(ShapeError, match="groups=2"):
        L.Conv2D(4, 3, groups=2)(torch.zeros(2, 5, 5, 3))
    layer = L.Conv2D(4, 3)
    layer(torch.zeros(1, 5, 5, 3))
    with pytest.raises(ShapeError, match="3 channels"):
        layer(torch.zeros(1, 5, 5, 2))


def test_image_classifier_saves_loads_and_summarizes(tmp_path, capsys):
    model = unrolled.Sequential(
        [
            L.Conv2D(4, 3, padding="same", activation="relu", input_shape=(8, 8, 2)),
            L.MaxPooling2D(),
            L.Conv2D(3, (2, 2)),
            L.GlobalAveragePooling2D(),
            L.Dense(2),
        ]
    )
    x = _data(3, 8, 8, 2)
    model.save(tmp_path / "cnn.unrolled")
    loaded = unrolled.load_model(tmp_path / "cnn.unrolled")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    model.summary()
    text = capsys.readouterr().out
    assert "Conv2D" in text and "MaxPooling2D" in text and "(None, 4, 4, 4)" in text
    assert str(4 * 3 * 3 * 2 + 4) in text  # the first Conv2D's parameters


def test_image_classifier_matches_keras_model():
    theirs = keras.Sequential(
        [
            keras.Input((8, 8, 2)),
            keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(3, (2, 2)),
            keras.layers.GlobalMaxPooling2D(),
            keras.layers.Dense(2),
        ]
    )
    ours = unrolled.Sequential(
        [
            L.Input((8, 8, 2)),
            L.Conv2D(4, 3, padding="same", activation="relu"),
            L.MaxPooling2D(),
            L.Conv2D(3, (2, 2)),
            L.GlobalMaxPooling2D(),
            L.Dense(2),
        ]
    )
    weights = kl.random_weights(rng_for("cnn"), theirs)
    theirs.set_weights(weights)
    ours.set_weights(weights)
    x = _data(3, 8, 8, 2, key="cnn")
    np.testing.assert_allclose(
        ours.predict(x, verbose=0), keras.ops.convert_to_numpy(theirs(x)), **kl.TOL
    )


def test_convolution2d_reads_keras1_kernel_and_names_with_a_warning():
    with pytest.warns(DeprecationWarning, match="nb_row"):
        old = L.Convolution2D(4, 3, 2, border_mode="same", subsample=(2, 2))
    new = L.Conv2D(4, (3, 2), padding="same", strides=2)
    assert {**old.get_config(), "name": None} == {**new.get_config(), "name": None}
    with pytest.warns(DeprecationWarning, match="nb_filter"):
        named = L.Convolution2D(nb_filter=4, nb_row=3, nb_col=2)
    assert named.kernel_size == (3, 2) and named.filters == 4
    assert L.Convolution2D(4, (3, 2)).kernel_size == (3, 2)  # Keras 2/3 spelling, no warning
    assert isinstance(old, L.Conv2D)


def test_convolution2d_saves_and_loads_under_its_own_name(tmp_path):
    model = unrolled.Sequential([L.Convolution2D(3, (2, 2), input_shape=(5, 5, 2)), L.Flatten()])
    model.save(tmp_path / "m.unrolled")
    loaded = unrolled.load_model(tmp_path / "m.unrolled")
    assert type(loaded.layers[0]) is L.Convolution2D
    x = _data(2, 5, 5, 2)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_conv2d_regularizer_penalty_matches_keras():
    ours, theirs = _pair(
        "Conv2D", 4, 3, shape=(None, 6, 6, 2), kernel_regularizer="l2", bias_regularizer="l1"
    )
    want = sum(float(keras.ops.convert_to_numpy(loss)) for loss in theirs.losses)
    got = sum(float(loss.detach()) for loss in ours.regularization_losses())
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_conv2d_gradients_match_torch_conv2d():
    # torch.nn.Conv2D on channels-first data, with our kernel moved to torch's layout.
    layer = L.Conv2D(3, (2, 3), strides=(1, 2))
    x = torch.as_tensor(_data(2, 6, 7, 2)).requires_grad_()
    reference = torch.nn.Conv2d(2, 3, (2, 3), stride=(1, 2))
    layer.build(tuple(x.shape))
    with torch.no_grad():
        reference.weight.copy_(layer.kernel.permute(3, 2, 0, 1))
        reference.bias.copy_(layer.bias)
    ours = layer(x)
    want = reference(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
    np.testing.assert_allclose(ours.detach().numpy(), want.detach().numpy(), **kl.TOL)
    (grad_ours,) = torch.autograd.grad(ours.square().sum(), layer.kernel)
    (grad_ref,) = torch.autograd.grad(want.square().sum(), reference.weight)
    np.testing.assert_allclose(grad_ours.permute(3, 2, 0, 1).numpy(), grad_ref.numpy(), atol=1e-4)


# ----------------------------------------------------------------------------- interop


def _keras_image_model():
    theirs = keras.Sequential(
        [
            keras.Input((9, 8, 2)),
            keras.layers.Conv2D(4, (3, 2), strides=2, padding="same", activation="relu"),
            keras.layers.Conv2D(4, 3, dilation_rate=(2, 1), padding="same", groups=2),
            keras.layers.AveragePooling2D(2, strides=1),
            keras.layers.MaxPooling2D((2, 1), padding="same"),
            keras.layers.GlobalMaxPooling2D(),
            keras.layers.Dense(2),
        ]
    )
    theirs.set_weights(kl.random_weights(rng_for("image-file"), theirs))
    return theirs


@pytest.mark.parametrize("suffix", ["keras", "h5"])
def test_conv2d_model_from_a_keras_file_predicts_as_keras(tmp_path, suffix):
    from unrolled.interop import from_keras

    theirs = _keras_image_model()
    theirs.save(tmp_path / f"cnn.{suffix}")
    ours = from_keras(tmp_path / f"cnn.{suffix}")
    assert [type(layer).__name__ for layer in ours.layers][:3] == [
        "Conv2D",
        "Conv2D",
        "AveragePooling2D",
    ]
    x = _data(3, 9, 8, 2, key="file")
    np.testing.assert_allclose(
        ours.predict(x, verbose=0), keras.ops.convert_to_numpy(theirs(x)), **kl.TOL
    )


def test_conv_models_export_to_onnx_and_run_in_onnxruntime(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from unrolled.interop import from_keras, to_onnx

    theirs = _keras_image_model()
    theirs.save(tmp_path / "cnn.keras")
    image = from_keras(tmp_path / "cnn.keras")
    volume = unrolled.Sequential(
        [
            L.Input((5, 6, 5, 2)),
            L.Conv3D(3, 2, strides=2, padding="same"),
            L.AveragePooling3D(2, padding="same"),
            L.GlobalAveragePooling3D(keepdims=True),
            L.Flatten(),
        ]
    )
    for model, x in [(image, _data(2, 9, 8, 2)), (volume, _data(2, 5, 6, 5, 2))]:
        sig = to_onnx(model, tmp_path / f"{model.name}.onnx")
        got = ort.InferenceSession(str(sig.path)).run(None, {sig.inputs[0]: x})[0]
        np.testing.assert_allclose(got, model.predict(x, verbose=0), atol=1e-5)


@pytest.mark.parametrize(
    "make",
    [
        lambda: L.Conv2D(4, 3, kernel_regularizer="l2", name="c2"),
        lambda: L.Conv3D(2, (1, 2, 3), strides=(1, 1, 2), use_bias=False),
        lambda: L.Convolution2D(4, (3, 2), padding="same"),
        lambda: L.Convolution3D(4, 2, activation="relu"),
        lambda: L.MaxPooling2D((3, 2), strides=1, padding="same"),
        lambda: L.MaxPooling3D(),
        lambda: L.AveragePooling2D(3),
        lambda: L.AveragePooling3D((1, 2, 2), padding="same"),
        lambda: L.GlobalMaxPooling2D(keepdims=True),
        lambda: L.GlobalMaxPooling3D(),
        lambda: L.GlobalAveragePooling2D(),
        lambda: L.GlobalAveragePooling3D(keepdims=True),
        lambda: L.UpSampling1D(3),
        lambda: L.ZeroPadding1D((0, 2)),
    ],
    ids=lambda make: type(make()).__name__,
)
def test_config_round_trip_of_every_new_layer(make):
    layer = make()
    config = layer.get_config()
    again = type(layer).from_config(config)
    assert type(again) is type(layer) and again.get_config() == config


def test_keras2_module_path_gives_the_convolutions_poolings_and_resizing_layers():
    # Keras 1/2: `from keras.layers.convolutional import Convolution1D, MaxPooling1D, ...`.
    from unrolled.layers.convolutional import (
        Convolution1D,
        Convolution2D,
        Cropping1D,
        MaxPooling1D,
        MaxPooling2D,
        UpSampling1D,
        ZeroPadding1D,
    )
    from unrolled.layers.pooling import GlobalMaxPooling2D

    assert Convolution1D is L.Convolution1D and Convolution2D is L.Convolution2D
    assert MaxPooling1D is L.MaxPooling1D and MaxPooling2D is L.MaxPooling2D
    assert (UpSampling1D, ZeroPadding1D, Cropping1D) == (
        L.UpSampling1D,
        L.ZeroPadding1D,
        L.Cropping1D,
    )
    assert GlobalMaxPooling2D is L.GlobalMaxPooling2D
    with pytest.raises(ImportError, match="SeparableConv1D"):
        from unrolled.layers.convolutional import SeparableConv1D  # noqa: F401


def test_sgd_step_with_constraints_and_regularizers_matches_keras():
    def stack(layers):
        return [
            layers.Conv2D(
                3,
                (2, 3),
                kernel_constraint="non_neg",
                bias_constraint="max_norm",
                kernel_regularizer="l2",
                activation="tanh",
            ),
            layers.GlobalAveragePooling2D(),
            layers.Dense(1),
        ]

    theirs = keras.Sequential([keras.Input((6, 5, 2)), *stack(keras.layers)])
    ours = unrolled.Sequential([L.Input((6, 5, 2)), *stack(L)])
    weights = kl.random_weights(rng_for("constrained"), theirs)
    theirs.set_weights(weights)
    ours.set_weights(weights)
    x = _data(8, 6, 5, 2, key="constrained")
    y = rng_for("constrained-y").normal(size=(8, 1)).astype(np.float32)
    ours.compile(optimizer=unrolled.optimizers.SGD(learning_rate=0.1), loss="mse")
    theirs.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
    ours.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    theirs.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for got, want in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(got, want, atol=1e-5)
    assert ours.get_weights()[0].min() >= 0.0  # non_neg held


def test_volume_model_saves_and_loads(tmp_path):
    model = unrolled.Sequential(
        [
            L.Input((4, 6, 5, 2)),
            L.Conv3D(3, 2, padding="same"),
            L.MaxPooling3D(),
            L.AveragePooling3D((1, 2, 1), padding="same"),
            L.GlobalMaxPooling3D(keepdims=True),
            L.GlobalAveragePooling3D(),
        ]
    )
    x = _data(2, 4, 6, 5, 2, key="volume")
    model.save(tmp_path / "volume.unrolled")
    loaded = unrolled.load_model(tmp_path / "volume.unrolled")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    assert [type(layer).__name__ for layer in loaded.layers] == [
        "Conv3D",
        "MaxPooling3D",
        "AveragePooling3D",
        "GlobalMaxPooling3D",
        "GlobalAveragePooling3D",
    ]


def test_conv2d_and_pooling2d_drop_a_mask_with_a_warning_as_keras():
    for layer in [L.Conv2D(2, 2), L.MaxPooling2D(), L.GlobalAveragePooling2D()]:
        x = torch.as_tensor(_data(2, 4, 4, 3))
        x._keras_mask = torch.ones(2, 4, 4, dtype=torch.bool)
        with pytest.warns(UserWarning, match="does not support masking"):
            y = layer(x)
        assert getattr(y, "_keras_mask", None) is None
