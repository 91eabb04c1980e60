"""BatchNormalization and LayerNormalization against Keras 3: same weights, same numbers.

Outputs for a grid of options (axis on 3-D inputs, center/scale, training or not, masks),
the moving statistics after training calls and after `fit`, one epoch of SGD through
`LSTM -> BatchNormalization -> GRU -> Dense`, and the bookkeeping: moving statistics are
saved and listed in `get_weights()` but never trained; configs, saving, summary, bad input.
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
    return (rng_for("norm", shape, key).normal(size=shape) * 2.0 + 0.5).astype(np.float32)


def _bn_weights(rng: np.random.Generator, keras_layer) -> list[np.ndarray]:
    # Moving variances must be positive; the rest are normal draws.
    weights = kl.random_weights(rng, keras_layer)
    names = [w.name for w in keras_layer.weights]
    return [
        np.abs(w) + 0.5 if name == "moving_variance" else w
        for w, name in zip(weights, names, strict=True)
    ]


def _pair(shape, **options):
    theirs = keras.layers.BatchNormalization(**options)
    ours = L.BatchNormalization(**options)
    theirs.build(shape)
    ours.build(shape)
    weights = _bn_weights(rng_for("bn", shape, sorted(options.items())), theirs)
    theirs.set_weights(weights)
    ours.set_weights(weights)
    return ours, theirs


def _ours(layer, x, **kwargs) -> np.ndarray:
    with torch.no_grad():
        return layer(torch.as_tensor(x), **kwargs).numpy()


def _theirs(layer, x, **kwargs) -> np.ndarray:
    return keras.ops.convert_to_numpy(layer(x, **kwargs))


# ------------------------------------------------------------------ BatchNormalization


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize(("center", "scale"), [(True, True), (False, True), (True, False)])
@pytest.mark.parametrize(("shape", "axis"), [((6, 5, 3), -1), ((6, 5, 3), 1), ((7, 4), -1)])
def test_batch_normalization_matches_keras(shape, axis, center, scale, training):
    ours, theirs = _pair(shape, axis=axis, center=center, scale=scale, momentum=0.9)
    x = _data(*shape, key=axis)
    np.testing.assert_allclose(
        _ours(ours, x, training=training), _theirs(theirs, x, training=training), **kl.TOL
    )
    # A training call moves the statistics; an inference call leaves them.
    for got, want in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(got, want, **kl.TOL)
    assert ours.compute_output_shape((None, *shape[1:])) == theirs.compute_output_shape(
        (None, *shape[1:])
    )


def test_batch_normalization_with_a_mask_matches_keras():
    ours, theirs = _pair((4, 6, 3), momentum=0.5)
    start = ours.get_weights()[2]
    x = _data(4, 6, 3)
    mask = np.array(
        [[1, 1, 1, 0, 0, 0], [1] * 6, [0, 0, 1, 1, 1, 1], [1, 0, 1, 0, 1, 0]], dtype=bool
    )
    want = _theirs(theirs, x, training=True, mask=mask)
    got = _ours(ours, x, training=True, mask=torch.as_tensor(mask))
    np.testing.assert_allclose(got, want, **kl.TOL)
    for got_w, want_w in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(got_w, want_w, **kl.TOL)
    # Only unmasked timesteps count: the moving mean moved halfway to their mean.
    expected = 0.5 * start + 0.5 * x[mask].mean(axis=0)
    np.testing.assert_allclose(ours.moving_mean.numpy(), expected, **kl.TOL)


def test_batch_normalization_mask_passes_through_after_masking():
    x = _data(3, 5, 2)
    x[0, 3:] = 0.0
    theirs = keras.Sequential(
        [keras.Input((5, 2)), keras.layers.Masking(0.0), keras.layers.BatchNormalization()]
    )
    ours = unrolled.Sequential([L.Masking(0.0), L.BatchNormalization()])
    a, b = kl.with_mask(x, None)
    kl.assert_same(ours(a), theirs(b))


def _stack_pair(masked: bool = False):
    steps, features = 5, 3
    ours = unrolled.Sequential(
        [
            unrolled.Input((steps, features)),
            *([L.Masking(0.0)] if masked else []),
            L.LSTM(4, return_sequences=True),
            L.BatchNormalization(momentum=0.8),
            L.GRU(3),
            L.Dense(1),
        ]
    )
    theirs = keras.Sequential(
        [
            keras.Input((steps, features)),
            *([keras.layers.Masking(0.0)] if masked else []),
            keras.layers.LSTM(4, return_sequences=True, use_cudnn=False),
            keras.layers.BatchNormalization(momentum=0.8),
            keras.layers.GRU(3, use_cudnn=False),
            keras.layers.Dense(1),
        ]
    )
    rng = rng_for("bn-stack")
    weights = [(rng.normal(size=w.shape) * 0.4).astype(np.float32) for w in theirs.get_weights()]
    weights[6] = np.abs(weights[6]) + 0.5  # the moving variance (gamma, beta, mean, variance)
    theirs.set_weights(weights)
    ours.set_weights(weights)
    x = rng.normal(size=(24, steps, features)).astype(np.float32)
    y = rng.normal(size=(24, 1)).astype(np.float32)
    if masked:  # padded sequences: the batch statistics leave the padding out
        x[::3, 3:] = 0.0
        x[1::4, :2] = 0.0
    return ours, theirs, x, y


@pytest.mark.parametrize("masked", [False, True], ids=["plain", "masked"])
def test_lstm_batch_normalization_gru_fit_matches_keras(masked):
    ours, theirs, x, y = _stack_pair(masked)
    before = ours.predict(x, verbose=0)
    assert np.isfinite(before).all()
    np.testing.assert_allclose(before, theirs.predict(x, verbose=0), **kl.TOL)
    ours.compile(optimizer=unrolled.optimizers.SGD(learning_rate=0.1), loss="mse")
    theirs.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
    ours_loss = ours.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    theirs_loss = theirs.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    # Three SGD steps: gradients through the batch statistics, and moving statistics moved
    # once per batch, as Keras's fit moves them.
    for got, want in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(got, want, atol=2e-5)
    np.testing.assert_allclose(ours_loss.history["loss"], theirs_loss.history["loss"], rtol=1e-5)
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), atol=2e-5)
    np.testing.assert_allclose(
        ours.evaluate(x, y, verbose=0), theirs.evaluate(x, y, verbose=0), rtol=1e-5
    )


def test_fit_takes_the_reference_path_and_trains_only_gamma_and_beta():
    ours, _, x, y = _stack_pair()
    bn = ours.layers[1]
    ours.compile(optimizer="sgd", loss="mse")
    ours.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    trained = {id(p) for group in ours._trainer.optimizer.param_groups for p in group["params"]}
    assert id(bn.gamma) in trained and id(bn.beta) in trained
    assert id(bn.moving_mean) not in trained and id(bn.moving_variance) not in trained
    assert not bn.moving_mean.requires_grad
    assert [n for n, _ in bn.named_parameters()] == ["gamma", "beta"]


def test_plain_call_and_predict_use_the_moving_statistics_and_leave_them():
    ours, theirs, x, _ = _stack_pair()
    bn = ours.layers[1]
    before = [w.copy() for w in bn.get_weights()]
    assert ours.training  # a fresh torch module is in train mode: still inference here
    with torch.no_grad():
        plain = ours(torch.as_tensor(x)).numpy()
    np.testing.assert_allclose(plain, keras.ops.convert_to_numpy(theirs(x)), **kl.TOL)
    ours.predict(x, verbose=0)
    for got, want in zip(bn.get_weights(), before, strict=True):
        np.testing.assert_array_equal(got, want)
    # training=True on the model reaches the layer, as in a Keras custom loop.
    with torch.no_grad():
        trained = ours(torch.as_tensor(x), training=True).numpy()
    np.testing.assert_allclose(
        trained, keras.ops.convert_to_numpy(theirs(x, training=True)), **kl.TOL
    )
    np.testing.assert_allclose(bn.get_weights()[2], theirs.layers[1].get_weights()[2], **kl.TOL)


def test_frozen_batch_normalization_runs_in_inference_during_fit():
    ours, theirs, x, y = _stack_pair()
    ours.layers[1].trainable = False
    theirs.layers[1].trainable = False
    before = ours.layers[1].get_weights()
    ours.compile(optimizer=unrolled.optimizers.SGD(learning_rate=0.1), loss="mse")
    theirs.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
    ours.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    theirs.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for got, want in zip(ours.layers[1].get_weights(), before, strict=True):
        np.testing.assert_array_equal(got, want)
    for got, want in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(got, want, atol=2e-5)


def test_moving_statistics_are_saved_loaded_and_non_trainable_in_summary(tmp_path, capsys):
    ours, _, x, y = _stack_pair()
    ours.compile(optimizer="sgd", loss="mse")
    ours.fit(x, y, batch_size=8, epochs=1, verbose=0)
    path = tmp_path / "bn.unrolled"
    ours.save(path)
    loaded = unrolled.load_model(path)
    for got, want in zip(loaded.get_weights(), ours.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), ours.predict(x, verbose=0), atol=1e-6)
    ours.summary()
    text = capsys.readouterr().out
    assert "(BatchNormalization)" in text
    assert "Non-trainable params: 8" in text  # moving mean and variance of 4 features
    row = next(line for line in text.splitlines() if line.startswith(" batch_normalization"))
    assert row.split()[-1] == "16"  # Keras counts all four weights


def test_batch_normalization_config_round_trip_and_keras_keys():
    layer = L.BatchNormalization(
        axis=1,
        momentum=0.9,
        epsilon=1e-5,
        center=False,
        gamma_initializer="glorot_uniform",
        moving_variance_initializer="zeros",
        gamma_regularizer="l2",
        beta_constraint="non_neg",
        synchronized=True,
    )
    config = layer.get_config()
    assert L.BatchNormalization.from_config(config).get_config() == config
    keras_config = keras.layers.BatchNormalization().get_config()
    assert set(keras_config) - {"dtype"} <= set(L.BatchNormalization().get_config())
    for key in ("axis", "momentum", "epsilon", "center", "scale", "synchronized", "renorm"):
        assert L.BatchNormalization().get_config()[key] == keras_config[key]


def test_gamma_regularizer_penalty_matches_keras():
    ours, theirs = _pair((5, 3), gamma_regularizer="l2", beta_regularizer="l1")
    want = sum(float(keras.ops.convert_to_numpy(loss)) for loss in theirs.losses)
    got = sum(float(loss.detach()) for loss in ours.regularization_losses())
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_batch_normalization_bad_arguments_raise_config_error():
    with pytest.raises(ConfigError, match="axis"):
        L.BatchNormalization(axis=[1, 2])
    with pytest.raises(ConfigError, match="momentum"):
        L.BatchNormalization(momentum=1.5)
    with pytest.raises(ConfigError, match="renorm"):
        L.BatchNormalization(renorm=True)
    with pytest.raises(ConfigError, match="gamma_initializer"):
        L.BatchNormalization(gamma_initializer="no_such_initializer")


def test_batch_normalization_bad_shapes_raise_shape_error():
    with pytest.raises(ShapeError, match=r"\(samples, \.\.\., features\)"):
        L.BatchNormalization()(torch.zeros(4))
    with pytest.raises(ShapeError, match="axis=3"):
        L.BatchNormalization(axis=3)(torch.zeros(2, 3, 4))
    layer = L.BatchNormalization()
    layer(torch.zeros(2, 3, 4))
    with pytest.raises(ShapeError, match=r"built for inputs of shape \(None, None, 4\)"):
        layer(torch.zeros(2, 3, 5))
    with pytest.raises(ShapeError, match="one axis less"):
        layer(torch.zeros(2, 3, 4), training=True, mask=torch.ones(2, 3, 4, dtype=torch.bool))


# ------------------------------------------------------------------ LayerNormalization


def _ln_pair(shape, **options):
    theirs = keras.layers.LayerNormalization(**options)
    ours = L.LayerNormalization(**options)
    theirs.build(shape)
    ours.build(shape)
    kl.share_weights(rng_for("ln", shape, sorted(options.items())), theirs, ours)
    return ours, theirs


@pytest.mark.parametrize(("center", "scale"), [(True, True), (False, True), (True, False)])
@pytest.mark.parametrize(
    ("shape", "axis"), [((3, 5, 4), -1), ((3, 5, 4), [1, 2]), ((3, 5, 4), (-2, -1)), ((4, 6), 1)]
)
def test_layer_normalization_matches_keras(shape, axis, center, scale):
    ours, theirs = _ln_pair(shape, axis=axis, center=center, scale=scale, epsilon=1e-2)
    x = _data(*shape, key="ln")
    np.testing.assert_allclose(_ours(ours, x), _theirs(theirs, x), **kl.TOL)
    assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in theirs.get_weights()]


def _closed_form_ln(x, axes, gamma, beta, epsilon):
    mean = x.mean(axis=axes, keepdims=True)
    variance = x.var(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(variance + epsilon) * gamma + beta


@pytest.mark.parametrize(("axis", "weight_shape"), [(1, (5, 1)), (-2, (5, 1)), ([1], (5, 1))])
def test_layer_normalization_over_a_middle_axis_matches_the_closed_form(axis, weight_shape):
    # Keras 3's torch backend fails here (it hands size 5 to torch's layer_norm on the last
    # axis); its other backends normalize over axis 1, which is this formula.
    x = _data(3, 5, 4, key="ln-mid").astype(np.float64)
    layer = L.LayerNormalization(axis=axis)
    layer.build((None, 5, 4))
    rng = rng_for("ln-mid")
    gamma, beta = rng.normal(size=5).astype(np.float32), rng.normal(size=5).astype(np.float32)
    layer.set_weights([gamma, beta])
    want = _closed_form_ln(x, 1, gamma.reshape(weight_shape), beta.reshape(weight_shape), 1e-3)
    np.testing.assert_allclose(_ours(layer, x.astype(np.float32)), want, atol=1e-5)


def test_layer_normalization_rms_scaling_matches_keras():
    with pytest.warns(UserWarning, match="rms_scaling"):
        theirs = keras.layers.LayerNormalization(rms_scaling=True)
    with pytest.warns(UserWarning, match="rms_scaling"):
        ours = L.LayerNormalization(rms_scaling=True)
    theirs.build((None, 5, 4))
    ours.build((None, 5, 4))
    kl.share_weights(rng_for("ln-rms"), theirs, ours)
    assert len(ours.get_weights()) == 1  # gamma only, as Keras
    x = _data(3, 5, 4, key="rms")
    with pytest.warns(UserWarning, match="rms_scaling"):  # Keras warns again at each call
        want = _theirs(theirs, x)
    np.testing.assert_allclose(_ours(ours, x), want, **kl.TOL)


def test_layer_normalization_keeps_the_mask_and_saves(tmp_path):
    x = _data(3, 5, 2, key="ln-save")
    x[1, 2:] = 0.0
    model = unrolled.Sequential(
        [unrolled.Input((5, 2)), L.Masking(0.0), L.LayerNormalization(), L.LSTM(3)]
    )
    theirs = keras.Sequential(
        [
            keras.Input((5, 2)),
            keras.layers.Masking(0.0),
            keras.layers.LayerNormalization(),
            keras.layers.LSTM(3, use_cudnn=False),
        ]
    )
    weights = kl.random_weights(rng_for("ln-model"), theirs)
    theirs.set_weights(weights)
    model.set_weights(weights)
    np.testing.assert_allclose(model.predict(x, verbose=0), theirs.predict(x, verbose=0), **kl.TOL)
    model.save(tmp_path / "ln.unrolled")
    loaded = unrolled.load_model(tmp_path / "ln.unrolled")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_layer_normalization_config_round_trip_and_errors():
    layer = L.LayerNormalization(axis=[1, 2], epsilon=1e-5, center=False, beta_regularizer="l1")
    config = layer.get_config()
    assert L.LayerNormalization.from_config(config).get_config() == config
    with pytest.raises(ConfigError, match="axis"):
        L.LayerNormalization(axis="last")
    with pytest.raises(ShapeError, match="axis=3"):
        L.LayerNormalization(axis=3)(torch.zeros(2, 3, 4))
    built = L.LayerNormalization()
    built(torch.zeros(2, 4))
    with pytest.raises(ShapeError, match="built for inputs"):
        built(torch.zeros(2, 5))


# ------------------------------------------------------------------ Keras files


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_keras_file_with_normalization_activation_and_noise_layers_imports(tmp_path, suffix):
    from unrolled.interop import from_keras

    theirs = keras.Sequential(
        [
            keras.Input((6, 3)),
            keras.layers.GaussianNoise(0.1),
            keras.layers.SpatialDropout1D(0.2),
            keras.layers.LSTM(4, return_sequences=True, use_cudnn=False),
            keras.layers.BatchNormalization(momentum=0.9),
            keras.layers.LayerNormalization(),
            keras.layers.PReLU(shared_axes=[1]),
            keras.layers.LeakyReLU(0.1),
            keras.layers.ReLU(max_value=3.0),
            keras.layers.ELU(),
            keras.layers.GaussianDropout(0.1),
            keras.layers.ActivityRegularization(l1=0.01),
            keras.layers.GRU(3, use_cudnn=False),
            keras.layers.Softmax(),
        ]
    )
    weights = kl.random_weights(rng_for("keras-file"), theirs)
    names = [w.name for w in theirs.weights]
    theirs.set_weights(
        [np.abs(w) + 0.5 if n == "moving_variance" else w for w, n in zip(weights, names)]
    )
    path = tmp_path / f"model{suffix}"
    theirs.save(path)
    ours = from_keras(path)
    x = _data(5, 6, 3, key="file")
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), **kl.TOL)
    bn = ours.get_layer(theirs.layers[3].name)
    assert isinstance(bn, L.BatchNormalization) and bn.momentum == 0.9


def test_tf_keras2_axis_list_reads_as_its_axis():
    assert L.BatchNormalization(axis=[2]).axis == 2
    with pytest.raises(ConfigError, match="axis"):
        L.BatchNormalization(axis=[1, 2])


def test_weights_carry_keras_names_paths_and_trainable_flags():
    ours, theirs, *_ = _stack_pair()
    keras_bn, bn = theirs.layers[1], ours.layers[1]
    # Same names and flags; paths built alike from each side's own (auto-numbered) names.
    assert [(w.name, w.trainable) for w in bn.weights] == [
        (w.name, w.trainable) for w in keras_bn.weights
    ]
    assert [w.path.replace(f"{ours.name}/{bn.name}", "m/bn") for w in bn.weights] == [
        w.path.replace(f"{theirs.name}/{keras_bn.name}", "m/bn") for w in keras_bn.weights
    ]
    assert [w.name for w in bn.non_trainable_weights] == ["moving_mean", "moving_variance"]
    np.testing.assert_array_equal(bn.moving_variance.numpy(), keras_bn.moving_variance.numpy())
    ours.double()  # torch's .to() hands back plain tensors; the names stay
    assert [w.name for w in bn.weights] == ["gamma", "beta", "moving_mean", "moving_variance"]


# -- who decides training: fit, a plain call, a torch loop ----------------------------------
def _bn_model():
    torch.manual_seed(0)
    model = unrolled.Sequential(
        [unrolled.Input((4,)), unrolled.layers.Dense(3), unrolled.layers.BatchNormalization()]
    )
    model.compile(optimizer="sgd", loss="mse")
    return model


def test_a_plain_call_is_inference_as_in_keras_even_after_fit():
    model = _bn_model()
    x = torch.randn(16, 4) * 3 + 2
    model.fit(x.numpy(), np.zeros((16, 3), "float32"), epochs=1, verbose=0)
    moving = model.layers[-1].moving_mean.detach().clone()
    y = model(x)  # Keras: inference, moving statistics untouched
    bn = model.layers[-1]
    want = (model.layers[0](x) - bn.moving_mean) / torch.sqrt(bn.moving_variance + 1e-3)
    torch.testing.assert_close(y, want * bn.gamma + bn.beta)
    torch.testing.assert_close(bn.moving_mean, moving)


def test_a_hand_written_torch_loop_in_train_mode_uses_and_moves_the_batch_statistics():
    # PyTorch's rule once the user sets the mode, as torch.nn.BatchNorm1d (Keras's
    # momentum 0.99 is torch's momentum 0.01; Keras's epsilon 1e-3).
    model = _bn_model()
    reference = torch.nn.BatchNorm1d(3, eps=1e-3, momentum=0.01)
    x = torch.randn(16, 4) * 3 + 2
    model.train()
    y = model(x)
    hidden = model.layers[0](x).detach()
    torch.testing.assert_close(y, reference(hidden), atol=1e-5, rtol=1e-5)
    bn = model.layers[-1]
    torch.testing.assert_close(bn.moving_mean, reference.running_mean)
    # torch keeps the unbiased variance in its running statistic; Keras the biased one.
    biased = hidden.var(0, unbiased=False)
    torch.testing.assert_close(bn.moving_variance, 0.99 + 0.01 * biased)
    model.eval()
    reference.eval()
    torch.testing.assert_close(
        model(x),
        (hidden - bn.moving_mean) / torch.sqrt(bn.moving_variance + 1e-3) * bn.gamma + bn.beta,
    )


def test_fit_and_predict_leave_the_mode_as_the_user_set_it():
    model = _bn_model()
    model.eval()
    model.fit(np.ones((8, 4), "float32"), np.zeros((8, 3), "float32"), epochs=1, verbose=0)
    assert not model.training
    model.train()
    model.predict(np.ones((2, 4), "float32"), verbose=0)
    assert model.training and model.layers[-1].mode_set_by_user
