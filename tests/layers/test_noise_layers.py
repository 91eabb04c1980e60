"""SpatialDropout1D, GaussianNoise, GaussianDropout and ActivityRegularization.

The random layers: their statistics in training against the closed form (the draws differ
from Keras's), the identity in inference (against Keras's predictions with the same
weights), repeatable draws with a seed. ActivityRegularization: its penalty and one epoch
of SGD against Keras. Configs, saving, summary and bad input for all four.
"""

from __future__ import annotations

import math

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
    return rng_for("noise", shape, key).normal(size=shape).astype(np.float32)


# ------------------------------------------------------------------ statistics in training


def test_gaussian_noise_adds_zero_mean_noise_of_stddev_in_training():
    x = torch.full((400, 500), 3.0)
    y = L.GaussianNoise(0.2, seed=1)(x, training=True)
    noise = (y - x).numpy()
    # 200,000 draws: the mean's standard error is 0.2 / 447 = 0.00045.
    assert abs(noise.mean()) < 0.003
    assert abs(noise.std() - 0.2) < 0.003


def test_gaussian_dropout_multiplies_by_noise_of_mean_one_in_training():
    rate = 0.3
    x = torch.full((400, 500), 2.0)
    y = L.GaussianDropout(rate, seed=2)(x, training=True)
    factor = (y / x).numpy()
    assert abs(factor.mean() - 1.0) < 0.005
    assert abs(factor.std() - math.sqrt(rate / (1 - rate))) < 0.005


def test_spatial_dropout1d_drops_whole_channels_in_training():
    rate = 0.4
    x = torch.ones(200, 7, 50)
    y = L.SpatialDropout1D(rate, seed=3)(x, training=True).numpy()
    # Each (sample, feature) channel is all zeros or all 1 / (1 - rate) across timesteps.
    assert (y == y[:, :1, :]).all()
    kept = y[y != 0]
    np.testing.assert_allclose(kept, 1 / (1 - rate), rtol=1e-6)
    dropped = (y[:, 0, :] == 0).mean()  # 10,000 channels: standard error 0.005
    assert abs(dropped - rate) < 0.025


@pytest.mark.parametrize(
    "make",
    [
        lambda seed: L.GaussianNoise(0.5, seed=seed),
        lambda seed: L.GaussianDropout(0.5, seed=seed),
        lambda seed: L.SpatialDropout1D(0.5, seed=seed),
    ],
    ids=["noise", "gaussian-dropout", "spatial"],
)
def test_a_seed_makes_the_draws_repeatable(make):
    x = torch.as_tensor(_data(4, 6, 5))
    first = make(7)(x, training=True)
    again = make(7)(x, training=True)
    other = make(8)(x, training=True)
    torch.testing.assert_close(first, again, rtol=0, atol=0)
    assert not torch.equal(first, other)
    assert not torch.equal(first, x)


# ------------------------------------------------------------------ inference is the identity


@pytest.mark.parametrize(
    "make",
    [
        lambda: L.GaussianNoise(0.5),
        lambda: L.GaussianDropout(0.5),
        lambda: L.SpatialDropout1D(0.5),
        lambda: L.ActivityRegularization(l1=0.1),
    ],
    ids=["noise", "gaussian-dropout", "spatial", "activity"],
)
def test_inference_is_the_identity(make):
    x = torch.as_tensor(_data(3, 5, 4))
    layer = make()
    flag = {} if isinstance(layer, L.ActivityRegularization) else {"training": False}
    assert torch.equal(layer(x, **flag), x)
    assert torch.equal(layer.eval()(x), x)


def test_models_with_noise_layers_predict_as_keras():
    ours = unrolled.Sequential(
        [
            unrolled.Input((6, 3)),
            L.GaussianNoise(0.3),
            L.SpatialDropout1D(0.5),
            L.LSTM(4, return_sequences=True),
            L.GaussianDropout(0.4),
            L.ActivityRegularization(l1=0.01),
            L.GRU(2),
        ]
    )
    theirs = keras.Sequential(
        [
            keras.Input((6, 3)),
            keras.layers.GaussianNoise(0.3),
            keras.layers.SpatialDropout1D(0.5),
            keras.layers.LSTM(4, return_sequences=True, use_cudnn=False),
            keras.layers.GaussianDropout(0.4),
            keras.layers.ActivityRegularization(l1=0.01),
            keras.layers.GRU(2, use_cudnn=False),
        ]
    )
    weights = kl.random_weights(rng_for("noise-model"), theirs)
    theirs.set_weights(weights)
    ours.set_weights(weights)
    x = _data(5, 6, 3)
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), **kl.TOL)
    x[0, 3:] = 0.0
    # A mask passes through all four, as in Keras.
    masked = unrolled.Sequential([L.Masking(0.0), *ours.layers])
    keras_masked = keras.Sequential(
        [keras.Input((6, 3)), keras.layers.Masking(0.0), *theirs.layers]
    )
    np.testing.assert_allclose(
        masked.predict(x, verbose=0), keras_masked.predict(x, verbose=0), **kl.TOL
    )


# ------------------------------------------------------------------ ActivityRegularization


@pytest.mark.parametrize(("l1", "l2"), [(0.1, 0.0), (0.0, 0.2), (0.05, 0.3)])
def test_activity_regularization_penalty_matches_keras(l1, l2):
    x = _data(4, 3, 5)
    theirs = keras.layers.ActivityRegularization(l1=l1, l2=l2)
    ours = L.ActivityRegularization(l1=l1, l2=l2)
    _ = theirs(x)
    y = ours(torch.as_tensor(x))
    assert torch.equal(y, torch.as_tensor(x))
    want = sum(float(keras.ops.convert_to_numpy(loss)) for loss in theirs.losses)
    got = sum(float(loss) for loss in ours.regularization_losses())
    np.testing.assert_allclose(got, want, rtol=1e-5)
    np.testing.assert_allclose(got, (l1 * np.abs(x).sum() + l2 * (x**2).sum()) / 4, rtol=1e-5)


def test_activity_regularization_fit_matches_keras():
    ours = unrolled.Sequential(
        [unrolled.Input((4, 3)), L.LSTM(5), L.ActivityRegularization(l1=0.05, l2=0.1), L.Dense(1)]
    )
    theirs = keras.Sequential(
        [
            keras.Input((4, 3)),
            keras.layers.LSTM(5, use_cudnn=False),
            keras.layers.ActivityRegularization(l1=0.05, l2=0.1),
            keras.layers.Dense(1),
        ]
    )
    weights = kl.random_weights(rng_for("activity-fit"), theirs)
    theirs.set_weights(weights)
    ours.set_weights(weights)
    rng = rng_for("activity-data")
    x = rng.normal(size=(12, 4, 3)).astype(np.float32)
    y = rng.normal(size=(12, 1)).astype(np.float32)
    ours.compile(optimizer=unrolled.optimizers.SGD(learning_rate=0.1), loss="mse")
    theirs.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
    ours_history = ours.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    theirs_history = theirs.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    for got, want in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(got, want, atol=1e-5)
    # The reported loss includes the penalty, in both.
    np.testing.assert_allclose(
        ours_history.history["loss"], theirs_history.history["loss"], rtol=1e-5
    )


# ------------------------------------------------------------------ configs, saving, errors


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (lambda: L.GaussianNoise(0.2, seed=3), lambda: keras.layers.GaussianNoise(0.2, seed=3)),
        (lambda: L.GaussianDropout(0.4, seed=1), lambda: keras.layers.GaussianDropout(0.4, seed=1)),
        (
            lambda: L.SpatialDropout1D(0.3, seed=2),
            lambda: keras.layers.SpatialDropout1D(0.3, seed=2),
        ),
        (
            lambda: L.ActivityRegularization(l1=0.1, l2=0.2),
            lambda: keras.layers.ActivityRegularization(l1=0.1, l2=0.2),
        ),
    ],
    ids=["noise", "gaussian-dropout", "spatial", "activity"],
)
def test_config_round_trips_and_reads_as_keras_writes_it(ours, theirs):
    layer = ours()
    config = layer.get_config()
    assert type(layer).from_config(config).get_config() == config
    keras_config = theirs().get_config()
    assert set(keras_config) - {"dtype", "trainable"} <= set(config)
    for key in set(keras_config) - {"name", "dtype", "trainable"}:
        assert config[key] == keras_config[key], key
    # Keras's own config (as a .keras file holds it) builds ours.
    keras_config.pop("dtype", None)
    assert type(layer).from_config(keras_config).get_config()["name"] == keras_config["name"]


def test_noise_layers_save_load_and_appear_in_summary(tmp_path, capsys):
    model = unrolled.Sequential(
        [
            unrolled.Input((6, 3)),
            L.GaussianNoise(0.1, seed=1),
            L.SpatialDropout1D(0.2),
            L.LSTM(3),
            L.GaussianDropout(0.1),
            L.ActivityRegularization(l2=0.01),
        ]
    )
    path = tmp_path / "noise.unrolled"
    model.save(path)
    loaded = unrolled.load_model(path)
    x = _data(4, 6, 3)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert [layer.get_config() for layer in loaded.layers] == [
        layer.get_config() for layer in model.layers
    ]
    model.summary()
    text = capsys.readouterr().out
    for name in ("GaussianNoise", "SpatialDropout1D", "GaussianDropout", "ActivityRegularization"):
        assert f"({name})" in text


def test_bad_arguments_raise_config_error():
    with pytest.raises(ConfigError, match="stddev"):
        L.GaussianNoise(1.5)
    with pytest.raises(ConfigError, match="rate"):
        L.GaussianDropout(1.0)
    with pytest.raises(ConfigError, match="rate"):
        L.SpatialDropout1D(-0.1)
    with pytest.raises(ConfigError, match="seed"):
        L.GaussianNoise(0.1, seed="abc")
    with pytest.raises(ConfigError, match="l1"):
        L.ActivityRegularization(l1=-1.0)


def test_spatial_dropout1d_needs_timesteps():
    with pytest.raises(ShapeError, match=r"\(samples, timesteps, features\)"):
        L.SpatialDropout1D(0.5)(torch.zeros(2, 3), training=True)
    with pytest.raises(ShapeError, match=r"\(samples, timesteps, features\)"):
        L.SpatialDropout1D(0.5).compute_output_shape((None, 3, 4, 5))


def test_layers_activity_regularizer_reaches_the_loss_as_keras():
    # The same penalty as ActivityRegularization, from any layer's `activity_regularizer`:
    # every output (the states too, with return_state) divided by its batch size.
    inputs = unrolled.Input((4, 3))
    sequence, h, c = L.LSTM(5, return_sequences=True, return_state=True, activity_regularizer="l1")(
        inputs
    )
    outputs = L.Dense(1, activity_regularizer=unrolled.regularizers.L2(0.05))(
        L.Concatenate()([L.GRU(2)(sequence), h, c])
    )
    ours = unrolled.Model(inputs, outputs)
    keras_inputs = keras.Input((4, 3))
    k_sequence, k_h, k_c = keras.layers.LSTM(
        5, return_sequences=True, return_state=True, activity_regularizer="l1", use_cudnn=False
    )(keras_inputs)
    keras_outputs = keras.layers.Dense(1, activity_regularizer=keras.regularizers.L2(0.05))(
        keras.layers.Concatenate()([keras.layers.GRU(2, use_cudnn=False)(k_sequence), k_h, k_c])
    )
    theirs = keras.Model(keras_inputs, keras_outputs)
    weights = kl.random_weights(rng_for("layer-activity"), theirs)
    theirs.set_weights(weights)
    ours.set_weights(weights)
    rng = rng_for("layer-activity-data")
    x = rng.normal(size=(8, 4, 3)).astype(np.float32)
    y = rng.normal(size=(8, 1)).astype(np.float32)
    ours.compile(optimizer=unrolled.optimizers.SGD(learning_rate=0.1), loss="mse")
    theirs.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
    ours_history = ours.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    theirs_history = theirs.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    np.testing.assert_allclose(
        ours_history.history["loss"], theirs_history.history["loss"], rtol=1e-5
    )
    for got, want in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(got, want, atol=1e-5)
