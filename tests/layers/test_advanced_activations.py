"""ReLU, LeakyReLU, PReLU, ELU and Softmax against Keras 3: same options, same numbers.

Outputs for a grid of options, Softmax with masks (given and carried), PReLU's weight layout
and one SGD step, configs, saving, and bad arguments.
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
    return (rng_for("act", shape, key).normal(size=shape) * 4.0).astype(np.float32)


def _ours(layer, x, **kwargs) -> np.ndarray:
    with torch.no_grad():
        return layer(torch.as_tensor(x), **kwargs).numpy()


def _theirs(layer, x, **kwargs) -> np.ndarray:
    return keras.ops.convert_to_numpy(layer(x, **kwargs))


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"max_value": 6.0},
        {"max_value": 2.5},
        {"negative_slope": 0.2},
        {"threshold": 1.0},
        {"negative_slope": 0.1, "max_value": 3.0},
        {"negative_slope": 0.3, "threshold": 0.5},
        {"negative_slope": 0.3, "threshold": 0.5, "max_value": 4.0},
    ],
    ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default",
)
def test_relu_matches_keras(options):
    x = _data(3, 4, 5)
    np.testing.assert_allclose(
        _ours(L.ReLU(**options), x), _theirs(keras.layers.ReLU(**options), x), **kl.TOL
    )


@pytest.mark.parametrize("slope", [None, 0.0, 0.01, 0.5])
def test_leaky_relu_matches_keras(slope):
    options = {} if slope is None else {"negative_slope": slope}
    x = _data(4, 6)
    want = _theirs(keras.layers.LeakyReLU(**options), x)
    np.testing.assert_allclose(_ours(L.LeakyReLU(**options), x), want, **kl.TOL)


def test_leaky_relu_takes_keras2_alpha_with_a_deprecation_warning():
    with pytest.warns(DeprecationWarning, match="negative_slope"):
        old = L.LeakyReLU(alpha=0.1)
    assert old.negative_slope == 0.1
    x = _data(2, 3)
    np.testing.assert_allclose(_ours(old, x), np.where(x > 0, x, 0.1 * x), **kl.TOL)


@pytest.mark.parametrize("alpha", [1.0, 0.5, 2.0])
def test_elu_matches_keras(alpha):
    x = _data(3, 5)
    np.testing.assert_allclose(
        _ours(L.ELU(alpha), x), _theirs(keras.layers.ELU(alpha), x), **kl.TOL
    )


@pytest.mark.parametrize(
    ("shape", "shared_axes"), [((3, 4, 5), None), ((3, 4, 5), [1]), ((3, 4, 5), 2), ((3, 6), None)]
)
def test_prelu_matches_keras_with_the_same_alpha(shape, shared_axes):
    theirs = keras.layers.PReLU(shared_axes=shared_axes)
    ours = L.PReLU(shared_axes=shared_axes)
    theirs.build(shape)
    ours.build(shape)
    assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in theirs.get_weights()]
    kl.share_weights(rng_for("prelu", shape, shared_axes), theirs, ours)
    x = _data(*shape, key=shared_axes)
    np.testing.assert_allclose(_ours(ours, x), _theirs(theirs, x), **kl.TOL)


def test_prelu_sgd_step_matches_keras():
    ours = unrolled.Sequential(
        [unrolled.Input((4, 3)), L.Dense(5), L.PReLU(shared_axes=[1]), L.GRU(2), L.Dense(1)]
    )
    theirs = keras.Sequential(
        [
            keras.Input((4, 3)),
            keras.layers.Dense(5),
            keras.layers.PReLU(shared_axes=[1]),
            keras.layers.GRU(2, use_cudnn=False),
            keras.layers.Dense(1),
        ]
    )
    weights = kl.random_weights(rng_for("prelu-sgd"), theirs)
    theirs.set_weights(weights)
    ours.set_weights(weights)
    rng = rng_for("prelu-data")
    x = rng.normal(size=(8, 4, 3)).astype(np.float32)
    y = rng.normal(size=(8, 1)).astype(np.float32)
    ours.compile(optimizer=unrolled.optimizers.SGD(learning_rate=0.1), loss="mse")
    theirs.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
    ours.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    theirs.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for got, want in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("axis", [-1, 1, [1, 2]])
def test_softmax_matches_keras(axis):
    x = _data(2, 3, 4)
    np.testing.assert_allclose(
        _ours(L.Softmax(axis=axis), x), _theirs(keras.layers.Softmax(axis=axis), x), **kl.TOL
    )


@pytest.mark.parametrize(
    "mask_shape", [(2, 3, 4), (3, 4), (4,), (2, 1, 4)], ids=["full", "trailing", "last", "ones"]
)
def test_softmax_with_a_mask_argument_matches_keras(mask_shape):
    x = _data(2, 3, 4)
    mask = rng_for("softmax-mask", mask_shape).random(mask_shape) > 0.4
    want = _theirs(keras.layers.Softmax(), x, mask=mask)
    got = _ours(L.Softmax(), x, mask=torch.as_tensor(mask))
    np.testing.assert_allclose(got, want, **kl.TOL)
    full = np.broadcast_to(mask, x.shape)
    assert (got[~full] == 0).all()


def test_softmax_takes_the_carried_mask_as_keras():
    # A (samples, timesteps) mask on (samples, timesteps, 1) scores: softmax over timesteps.
    x = _data(3, 5, 1)
    x[0, 3:] = 0.0
    theirs = keras.Sequential(
        [keras.Input((5, 1)), keras.layers.Masking(0.0), keras.layers.Softmax(axis=1)]
    )
    ours = unrolled.Sequential([L.Masking(0.0), L.Softmax(axis=1)])
    with pytest.raises(
        ShapeError, match="broadcast"
    ):  # (3, 5) does not fit (3, 5, 1) from the right
        ours(torch.as_tensor(x))
    with pytest.raises(ValueError, match="broadcastable"):
        theirs(x)


def test_softmax_mask_that_does_not_broadcast_raises_shape_error():
    with pytest.raises(ShapeError, match=r"mask of shape \(2, 3\)"):
        L.Softmax()(torch.zeros(2, 3, 4), mask=torch.ones(2, 3, dtype=torch.bool))


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (
            lambda: L.ReLU(max_value=6.0, negative_slope=0.1, threshold=0.5),
            lambda: keras.layers.ReLU(max_value=6.0, negative_slope=0.1, threshold=0.5),
        ),
        (lambda: L.LeakyReLU(0.2), lambda: keras.layers.LeakyReLU(0.2)),
        (
            lambda: L.PReLU(shared_axes=[1, 2], alpha_regularizer="l2"),
            lambda: keras.layers.PReLU(shared_axes=[1, 2], alpha_regularizer="l2"),
        ),
        (lambda: L.ELU(0.5), lambda: keras.layers.ELU(0.5)),
        (lambda: L.Softmax(axis=[1, 2]), lambda: keras.layers.Softmax(axis=[1, 2])),
    ],
    ids=["relu", "leaky", "prelu", "elu", "softmax"],
)
def test_config_round_trips_and_reads_as_keras_writes_it(ours, theirs):
    layer = ours()
    config = layer.get_config()
    assert type(layer).from_config(config).get_config() == config
    keras_config = theirs().get_config()
    for key in set(config) & set(keras_config) - {"name", "dtype", "trainable"}:
        if not isinstance(keras_config[key], dict):  # Keras serializes objects as dicts
            assert config[key] == keras_config[key], key


def test_activation_layers_save_load_and_appear_in_summary(tmp_path, capsys):
    model = unrolled.Sequential(
        [
            unrolled.Input((4, 3)),
            L.Dense(6),
            L.PReLU(alpha_initializer="ones"),
            L.LeakyReLU(0.1),
            L.ReLU(max_value=2.0),
            L.ELU(0.7),
            L.Softmax(),
        ]
    )
    x = _data(5, 4, 3)
    path = tmp_path / "acts.unrolled"
    model.save(path)
    loaded = unrolled.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.layers[4].alpha == 0.7
    model.summary()
    text = capsys.readouterr().out
    for name in ("(PReLU)", "(LeakyReLU)", "(ReLU)", "(ELU)", "(Softmax)"):
        assert name in text
    assert "24" in text.split("(PReLU)")[1].splitlines()[0]  # alpha (4, 6)


def test_bad_arguments_raise_config_error():
    with pytest.raises(ConfigError, match="max_value"):
        L.ReLU(max_value=-1.0)
    with pytest.raises(ConfigError, match="negative_slope"):
        L.ReLU(negative_slope=None)
    with pytest.raises(ConfigError, match="threshold"):
        L.ReLU(threshold=-0.5)
    with pytest.raises(ConfigError, match="negative_slope"):
        L.LeakyReLU(-0.1)
    with pytest.raises(ConfigError, match="alpha"):
        L.ELU("one")
    with pytest.raises(ConfigError, match="axis"):
        L.Softmax(axis=1.5)
    with pytest.raises(ConfigError, match="shared_axes"):
        L.PReLU(shared_axes=["time"])
    with pytest.raises(ConfigError, match="alpha_initializer"):
        L.PReLU(alpha_initializer="no_such_initializer")


def test_bad_shapes_raise_shape_error():
    with pytest.raises(ShapeError, match=r"\(samples, \.\.\., features\)"):
        L.PReLU()(torch.zeros(3))
    with pytest.raises(ShapeError, match="shared_axes"):
        L.PReLU(shared_axes=[3])(torch.zeros(2, 3, 4))
    layer = L.PReLU()
    layer(torch.zeros(2, 3, 4))
    with pytest.raises(ShapeError, match="built for inputs"):
        layer(torch.zeros(2, 3, 5))
    with pytest.raises(ShapeError, match="axis=2"):
        L.Softmax(axis=2)(torch.zeros(2, 3))
