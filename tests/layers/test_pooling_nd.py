"""2-D and 3-D poolings, the global poolings, UpSampling1D and ZeroPadding1D against Keras 3.

Same data, same numbers; output shapes against Keras's `compute_output_shape`; configs as
Keras writes them; an uneven "same" average checked by hand (where Keras's torch backend
departs from its own documented rule); bad input.
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
    return rng_for("pool-nd", shape, key).normal(size=shape).astype(np.float32)


def _both(ours, theirs, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with torch.no_grad():
        got = ours(torch.as_tensor(x)).numpy()
    return got, keras.ops.convert_to_numpy(theirs(x))


def _same_shapes(ours, theirs, *shapes) -> None:
    for shape in shapes:
        assert ours.compute_output_shape(shape) == tuple(theirs.compute_output_shape(shape))


# Padding "same" here is even on both sides (or absent), where Keras's torch backend follows
# its documented rule; the uneven case is checked by hand below.
@pytest.mark.parametrize("kind", ["MaxPooling2D", "AveragePooling2D"])
@pytest.mark.parametrize(
    ("pool_size", "strides", "padding", "size"),
    [
        (2, None, "valid", (8, 6)),
        ((3, 2), (1, 2), "valid", (7, 6)),
        (3, 2, "valid", (7, 9)),
        (3, 1, "same", (5, 6)),
        ((3, 1), (2, 1), "same", (7, 4)),
        (2, None, "same", (8, 6)),
    ],
)
def test_pooling2d_matches_keras(kind, pool_size, strides, padding, size):
    x = _data(2, *size, 3, key=(kind, pool_size))
    theirs = getattr(keras.layers, kind)(pool_size, strides=strides, padding=padding)
    ours = getattr(L, kind)(pool_size, strides=strides, padding=padding)
    got, want = _both(ours, theirs, x)
    np.testing.assert_allclose(got, want, **kl.TOL)
    _same_shapes(ours, theirs, (None, *size, 3), (None, None, size[1], 3))


@pytest.mark.parametrize("kind", ["MaxPooling2D", "MaxPooling3D"])
@pytest.mark.parametrize("padding", ["valid", "same"])
def test_max_pooling_with_uneven_same_padding_matches_keras(kind, padding):
    rank = int(kind[-2])
    size = (5, 7, 4)[:rank]
    x = _data(2, *size, 2, key=kind)
    theirs = getattr(keras.layers, kind)(3, strides=2, padding=padding)
    ours = getattr(L, kind)(3, strides=2, padding=padding)
    got, want = _both(ours, theirs, x)
    np.testing.assert_allclose(got, want, **kl.TOL)
    _same_shapes(ours, theirs, (None, *size, 2))


@pytest.mark.parametrize(
    ("pool_size", "strides", "padding"),
    [(2, None, "valid"), ((2, 3, 2), (1, 2, 1), "valid"), (3, 1, "same")],
)
def test_average_pooling3d_matches_keras(pool_size, strides, padding):
    x = _data(2, 5, 6, 5, 2, key=pool_size)
    theirs = keras.layers.AveragePooling3D(pool_size, strides=strides, padding=padding)
    ours = L.AveragePooling3D(pool_size, strides=strides, padding=padding)
    got, want = _both(ours, theirs, x)
    np.testing.assert_allclose(got, want, **kl.TOL)
    _same_shapes(ours, theirs, (None, 5, 6, 5, 2))


def test_uneven_same_average_pooling2d_counts_real_pixels_only():
    # 4 x 4 image, pool 3 x 3, strides 2: "same" pads 0 before and 1 after on each axis.
    # The window at output (1, 1) covers rows 2..3 and cols 2..3 and the padding: the mean
    # of those four real pixels (Keras's documented rule, and TensorFlow's).
    image = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    y = L.AveragePooling2D(3, strides=2, padding="same")(torch.as_tensor(image))
    want = np.array(
        [
            [image[0, 0:3, 0:3].mean(), image[0, 0:3, 2:4].mean()],
            [image[0, 2:4, 0:3].mean(), image[0, 2:4, 2:4].mean()],
        ]
    )
    np.testing.assert_allclose(y[0, :, :, 0].numpy(), want, rtol=1e-6)


@pytest.mark.parametrize(
    "kind",
    [
        "GlobalMaxPooling2D",
        "GlobalAveragePooling2D",
        "GlobalMaxPooling3D",
        "GlobalAveragePooling3D",
    ],
)
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pooling_matches_keras(kind, keepdims):
    rank = int(kind[-2])
    size = (4, 3, 5)[:rank]
    x = _data(3, *size, 2, key=kind)
    theirs = getattr(keras.layers, kind)(keepdims=keepdims)
    ours = getattr(L, kind)(keepdims=keepdims)
    got, want = _both(ours, theirs, x)
    np.testing.assert_allclose(got, want, **kl.TOL)
    _same_shapes(ours, theirs, (None, *size, 2), (None, *(None,) * rank, 2))


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (
            lambda: L.MaxPooling2D((3, 2), padding="same"),
            lambda: keras.layers.MaxPooling2D((3, 2), padding="same"),
        ),
        (lambda: L.AveragePooling2D(2, 1), lambda: keras.layers.AveragePooling2D(2, 1)),
        (lambda: L.MaxPooling3D(), lambda: keras.layers.MaxPooling3D()),
        (lambda: L.AveragePooling3D(3, 2), lambda: keras.layers.AveragePooling3D(3, 2)),
        (
            lambda: L.GlobalMaxPooling2D(keepdims=True),
            lambda: keras.layers.GlobalMaxPooling2D(keepdims=True),
        ),
        (lambda: L.GlobalAveragePooling3D(), lambda: keras.layers.GlobalAveragePooling3D()),
        (lambda: L.UpSampling1D(3), lambda: keras.layers.UpSampling1D(3)),
        (lambda: L.ZeroPadding1D((1, 2)), lambda: keras.layers.ZeroPadding1D((1, 2))),
        (lambda: L.ZeroPadding1D(3), lambda: keras.layers.ZeroPadding1D(3)),
    ],
    ids=[
        "max2d",
        "avg2d",
        "max3d",
        "avg3d",
        "gmax2d",
        "gavg3d",
        "upsampling",
        "zeropad",
        "zeropad-int",
    ],
)
def test_config_reads_as_keras_writes_it_and_round_trips(ours, theirs):
    layer = ours()
    mine, keras_config = layer.get_config(), theirs().get_config()
    assert set(keras_config) - {"name", "dtype", "trainable"} <= set(mine)
    for key in set(keras_config) - {"name", "dtype", "trainable"}:
        assert mine[key] == keras_config[key], key
    assert type(layer).from_config(mine).get_config() == mine


@pytest.mark.parametrize(
    "layer",
    [
        lambda: L.MaxPooling2D(),
        lambda: L.AveragePooling2D(),
        lambda: L.GlobalMaxPooling2D(),
        lambda: L.GlobalAveragePooling2D(),
    ],
    ids=["max", "avg", "gmax", "gavg"],
)
@pytest.mark.parametrize("shape", [(4, 5, 2), (2, 3, 4, 5, 2)], ids=["3d", "5d"])
def test_2d_pooling_wrong_rank_raises_shape_error_naming_the_axes(layer, shape):
    with pytest.raises(ShapeError, match=r"\(samples, rows, cols, channels\)"):
        layer()(torch.zeros(shape))


def test_3d_pooling_wrong_rank_raises_shape_error_naming_the_axes():
    with pytest.raises(ShapeError, match=r"\(samples, depth, rows, cols, channels\)"):
        L.MaxPooling3D()(torch.zeros(2, 4, 4, 1))


def test_pooling_refusals_are_config_errors():
    with pytest.raises(ConfigError, match="channels_last"):
        L.MaxPooling2D(data_format="channels_first")
    with pytest.raises(ConfigError, match="padding"):
        L.AveragePooling2D(padding="causal")
    with pytest.raises(ConfigError, match="tuple of 2"):
        L.MaxPooling2D((2, 2, 2))
    with pytest.raises(ConfigError, match="size"):
        L.UpSampling1D(0)
    with pytest.raises(ConfigError, match="padding"):
        L.ZeroPadding1D((1, -1))


# ----------------------------------------------------------------------------- 1-D resizing


@pytest.mark.parametrize(
    ("kind", "argument"),
    [("UpSampling1D", 1), ("UpSampling1D", 3), ("ZeroPadding1D", 2), ("ZeroPadding1D", (0, 3))],
)
def test_resizing_1d_matches_keras(kind, argument):
    x = _data(2, 5, 3, key=(kind, argument))
    ours, theirs = getattr(L, kind)(argument), getattr(keras.layers, kind)(argument)
    got, want = _both(ours, theirs, x)
    np.testing.assert_allclose(got, want, **kl.TOL)
    _same_shapes(ours, theirs, (None, 5, 3), (None, None, 3))


@pytest.mark.parametrize("layer", [lambda: L.UpSampling1D(), lambda: L.ZeroPadding1D()])
def test_resizing_1d_wrong_rank_raises_shape_error(layer):
    with pytest.raises(ShapeError, match=r"\(samples, timesteps, features\)"):
        layer()(torch.zeros(2, 5))


def test_autoencoder_with_resizing_layers_matches_keras_and_saves(tmp_path):
    theirs = keras.Sequential(
        [
            keras.Input((8, 2)),
            keras.layers.ZeroPadding1D((1, 1)),
            keras.layers.Conv1D(3, 3, activation="relu"),
            keras.layers.MaxPooling1D(2),
            keras.layers.UpSampling1D(2),
            keras.layers.Conv1D(2, 3, padding="same"),
        ]
    )
    ours = unrolled.Sequential(
        [
            L.Input((8, 2)),
            L.ZeroPadding1D((1, 1)),
            L.Conv1D(3, 3, activation="relu"),
            L.MaxPooling1D(2),
            L.UpSampling1D(2),
            L.Conv1D(2, 3, padding="same"),
        ]
    )
    weights = kl.random_weights(rng_for("autoencoder"), theirs)
    theirs.set_weights(weights)
    ours.set_weights(weights)
    x = _data(3, 8, 2, key="autoencoder")
    np.testing.assert_allclose(
        ours.predict(x, verbose=0), keras.ops.convert_to_numpy(theirs(x)), **kl.TOL
    )
    ours.save(tmp_path / "ae.unrolled")
    loaded = unrolled.load_model(tmp_path / "ae.unrolled")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), ours.predict(x, verbose=0), atol=1e-6)
    assert [type(layer).__name__ for layer in loaded.layers][:2] == ["ZeroPadding1D", "Conv1D"]


def test_max_pooling2d_gradient_reaches_the_max_only():
    # Closed form: d(sum of window maxima)/dx is 1 at each window's max, 0 elsewhere.
    x = torch.tensor([[[[1.0], [5.0]], [[2.0], [0.0]]]], requires_grad=True)  # (1, 2, 2, 1)
    (grad,) = torch.autograd.grad(L.MaxPooling2D()(x).sum(), x)
    np.testing.assert_array_equal(grad[0, :, :, 0].numpy(), [[0.0, 1.0], [0.0, 0.0]])


@pytest.mark.parametrize(
    ("layer", "want", "dtype"),
    [
        (lambda: L.MaxPooling1D(3, padding="same"), [[1], [3]], torch.int64),
        (lambda: L.MaxPooling2D(), [[[[5], [7]], [[13], [15]]]], torch.int64),
        (lambda: L.AveragePooling2D(), [[[[2.5], [4.5]], [[10.5], [12.5]]]], torch.float32),
        (lambda: L.GlobalAveragePooling2D(), [[7.5]], torch.float32),
        (lambda: L.GlobalAveragePooling1D(), [[1.5]], torch.float32),
    ],
    ids=["max1d", "max2d", "avg2d", "gavg2d", "gavg1d"],
)
def test_integer_inputs_pool_without_a_raw_torch_error(layer, want, dtype):
    # Hand-computed: maxima keep the integers' type, means are floats (Keras's global average).
    made = layer()
    x = np.arange(16).reshape(1, 4, 4, 1) if made.rank == 2 else np.arange(4).reshape(1, 4, 1)
    y = made(x)
    assert y.dtype == dtype
    np.testing.assert_array_equal(y.numpy(), np.array(want).reshape(y.shape))


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize(
    ("short", "long"),
    [
        ("MaxPool", "MaxPooling"),
        ("AvgPool", "AveragePooling"),
        ("GlobalMaxPool", "GlobalMaxPooling"),
        ("GlobalAvgPool", "GlobalAveragePooling"),
    ],
)
def test_keras_short_pooling_names_compute_as_keras_and_save_under_their_name(
    short, long, n, tmp_path
):
    window = {} if "Global" in short else {"pool_size": 2}  # Keras's AvgPool has no default
    ours = getattr(L, f"{short}{n}D")(**window)
    assert isinstance(ours, getattr(L, f"{long}{n}D")) and getattr(unrolled, f"{short}{n}D")
    config = ours.get_config()
    assert type(ours).from_config(config).get_config() == config
    size = (4, 6, 4)[:n]
    x = _data(2, *size, 3, key=(short, n))
    got, want = _both(ours, getattr(keras.layers, f"{short}{n}D")(**window), x)
    np.testing.assert_allclose(got, want, **kl.TOL)
    model = unrolled.Sequential([L.Input((*size, 3)), ours])
    model.save(tmp_path / "m.unrolled")
    loaded = unrolled.load_model(tmp_path / "m.unrolled")
    assert type(loaded.layers[0]) is type(ours)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), got, **kl.TOL)
