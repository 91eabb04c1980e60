"""TimeDistributed over images, the CNN-LSTM pattern, against Keras 3.

`TimeDistributed(Conv2D) -> TimeDistributed(MaxPooling2D) -> TimeDistributed(Flatten) ->
LSTM -> Dense` on frames `(samples, timesteps, rows, cols, channels)`: outputs, masks,
shapes, one SGD step, save/load and summary, with weights copied from Keras.
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
from unrolled.errors import ShapeError

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

FRAMES = (4, 7, 6, 2)  # timesteps, rows, cols, channels


def _frames(samples: int, key: object = None) -> np.ndarray:
    return rng_for("frames", samples, key).normal(size=(samples, *FRAMES)).astype(np.float32)


def _stack(lib, recurrent_kwargs):
    layers = lib.layers if lib is keras else L
    return [
        layers.TimeDistributed(layers.Conv2D(3, 3, padding="same", activation="relu")),
        layers.TimeDistributed(layers.MaxPooling2D((2, 2))),
        layers.TimeDistributed(layers.Flatten()),
        layers.LSTM(5, **recurrent_kwargs),
        layers.Dense(1, activation="sigmoid"),
    ]


def _cnn_lstm_pair():
    theirs = keras.Sequential([keras.Input(FRAMES), *_stack(keras, {"use_cudnn": False})])
    ours = unrolled.Sequential([L.Input(FRAMES), *_stack(unrolled, {})])
    weights = kl.random_weights(rng_for("cnn-lstm"), theirs, scale=0.3)
    theirs.set_weights(weights)
    ours.set_weights(weights)
    return ours, theirs


def test_cnn_lstm_predicts_as_keras():
    ours, theirs = _cnn_lstm_pair()
    x = _frames(5)
    np.testing.assert_allclose(
        ours.predict(x, verbose=0), keras.ops.convert_to_numpy(theirs(x)), **kl.TOL
    )
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in theirs.get_weights()]


def test_cnn_lstm_sgd_step_matches_keras():
    ours, theirs = _cnn_lstm_pair()
    rng = rng_for("cnn-lstm-targets")
    x = _frames(8, key="sgd")
    y = rng.integers(0, 2, size=(8, 1)).astype(np.float32)
    ours.compile(optimizer=unrolled.optimizers.SGD(learning_rate=0.5), loss="binary_crossentropy")
    theirs.compile(optimizer=keras.optimizers.SGD(learning_rate=0.5), loss="binary_crossentropy")
    before = ours.get_weights()
    ours.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    theirs.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    for index, (got, want) in enumerate(zip(ours.get_weights(), theirs.get_weights(), strict=True)):
        np.testing.assert_allclose(got, want, atol=1e-5, err_msg=f"weight {index}")
    assert not np.allclose(before[0], ours.get_weights()[0])  # the conv kernel did train


def test_output_shapes_match_keras_symbolically_and_eagerly():
    ours, theirs = _cnn_lstm_pair()
    symbol_ours, symbol_theirs = L.Input(FRAMES), keras.Input(FRAMES)
    for layer_ours, layer_theirs in zip(ours.layers, theirs.layers, strict=True):
        symbol_ours, symbol_theirs = layer_ours(symbol_ours), layer_theirs(symbol_theirs)
        assert tuple(symbol_ours.shape) == tuple(symbol_theirs.shape)
    for probe in [(None, None, 7, 6, 2), (None, 4, 7, 6, 2)]:
        shape = probe
        for layer_ours, layer_theirs in zip(ours.layers[:3], theirs.layers[:3], strict=True):
            want = tuple(layer_theirs.compute_output_shape(shape))
            assert layer_ours.compute_output_shape(shape) == want
            shape = want


@pytest.mark.parametrize(
    ("inner", "kwargs"),
    [
        ("Conv2D", {"filters": 3, "kernel_size": (2, 3), "strides": (2, 1)}),
        ("MaxPooling2D", {"pool_size": 3, "strides": 2, "padding": "same"}),
        ("AveragePooling2D", {"pool_size": 2}),
        ("GlobalAveragePooling2D", {}),
        ("Flatten", {}),
    ],
)
def test_time_distributed_layer_with_mask_matches_keras(inner, kwargs):
    theirs = keras.layers.TimeDistributed(getattr(keras.layers, inner)(**kwargs))
    ours = L.TimeDistributed(getattr(L, inner)(**kwargs))
    shape = (3, *FRAMES)
    if inner == "Conv2D":
        theirs.build(shape)
        ours.build(shape)
        kl.share_weights(rng_for("td", inner), theirs, ours)
    x = _frames(3, key=inner)
    mask = np.array([[1, 1, 0, 0], [1, 1, 1, 1], [0, 1, 1, 0]], dtype=bool)
    x_ours, x_theirs = kl.with_mask(x, mask)
    with torch.no_grad():
        kl.assert_same(ours(x_ours), theirs(x_theirs))  # values and the mask passed on


def test_mask_through_the_stack_reaches_the_lstm_as_in_keras():
    ours, theirs = _cnn_lstm_pair()
    x = _frames(3, key="masked")
    mask = np.array([[1, 1, 1, 0], [1, 1, 1, 1], [1, 0, 0, 0]], dtype=bool)

    def run(layers, tensor):
        for layer in layers:
            tensor = layer(tensor)
        return tensor

    x_ours, x_theirs = kl.with_mask(x, mask)
    with torch.no_grad():
        got = run(ours.layers, x_ours)
    want = run(theirs.layers, x_theirs)
    kl.assert_same(got, want)
    # The masked steps were skipped: the same as the frames cut to each sample's length.
    with torch.no_grad():
        alone = run(ours.layers, torch.as_tensor(x[2:3, :1]))
    np.testing.assert_allclose(got[2:3].numpy(), alone.numpy(), **kl.TOL)


def test_cnn_lstm_saves_loads_and_summarizes(tmp_path, capsys):
    ours, _ = _cnn_lstm_pair()
    x = _frames(2, key="save")
    ours.save(tmp_path / "cnn_lstm.unrolled")
    loaded = unrolled.load_model(tmp_path / "cnn_lstm.unrolled")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), ours.predict(x, verbose=0), atol=1e-6)
    assert type(loaded.layers[0].layer) is L.Conv2D
    ours.summary()
    text = capsys.readouterr().out
    assert "(None, 4, 7, 6, 3)" in text and "(None, 4, 3, 3, 3)" in text and "(None, 4, 27)" in text
    assert str(3 * 3 * 2 * 3 + 3) in text


def test_config_round_trip_of_wrapped_convolution():
    layer = L.TimeDistributed(L.Conv2D(3, (2, 2), strides=2, activation="tanh"))
    config = layer.get_config()
    assert config["layer"]["class_name"] == "Conv2D"
    assert L.TimeDistributed.from_config(config).get_config() == config


@pytest.mark.parametrize(
    ("inner", "shape"),
    [(lambda: L.Conv2D(3, 3), (2, 4, 7, 6)), (lambda: L.MaxPooling2D(), (2, 4, 7, 6, 2, 1))],
)
def test_wrong_rank_names_the_frames_axes(inner, shape):
    with pytest.raises(ShapeError, match=r"\(samples, timesteps, rows, cols, channels\)"):
        L.TimeDistributed(inner())(torch.zeros(shape))


def test_cnn_lstm_exports_to_onnx_with_dynamic_samples_and_timesteps(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from unrolled.interop import to_onnx

    ours = unrolled.Sequential([L.Input((None, *FRAMES[1:])), *_stack(unrolled, {})])
    ours.set_weights(_cnn_lstm_pair()[0].get_weights())
    sig = to_onnx(ours, tmp_path / "cnn_lstm.onnx")
    session = ort.InferenceSession(str(sig.path))
    for samples, steps in [(2, 4), (3, 6)]:
        x = rng_for("onnx", samples).normal(size=(samples, steps, *FRAMES[1:])).astype(np.float32)
        got = session.run(None, {sig.inputs[0]: x})[0]
        np.testing.assert_allclose(got, ours.predict(x, verbose=0), atol=1e-5)


def test_cnn_lstm_from_a_keras_file_predicts_as_keras(tmp_path):
    from unrolled.interop import from_keras

    _, theirs = _cnn_lstm_pair()
    theirs.save(tmp_path / "cnn_lstm.keras")
    ours = from_keras(tmp_path / "cnn_lstm.keras")
    x = _frames(3, key="file")
    np.testing.assert_allclose(
        ours.predict(x, verbose=0), keras.ops.convert_to_numpy(theirs(x)), **kl.TOL
    )


def test_time_distributed_batch_normalization_takes_each_steps_statistics_as_keras():
    # Keras runs the wrapped layer once per timestep: BatchNormalization normalizes every
    # step by its own batch statistics and moves its moving ones once per step.
    x = np.random.default_rng(0).normal(size=(4, 3, 5, 5, 2)).astype("float32") * 2 + 1
    theirs = keras.layers.TimeDistributed(keras.layers.BatchNormalization())
    ours = L.TimeDistributed(L.BatchNormalization())
    theirs.build(x.shape)
    ours.build(x.shape)
    ours.set_weights(theirs.get_weights())
    want = keras.ops.convert_to_numpy(theirs(x, training=True))
    got = ours(torch.as_tensor(x), training=True).detach().numpy()
    np.testing.assert_allclose(got, want, atol=1e-5)
    for mine, keras_weight in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(mine, keras_weight, atol=1e-6)
    # Inference: the moving statistics, the same either way.
    np.testing.assert_allclose(
        ours(torch.as_tensor(x), training=False).detach().numpy(),
        keras.ops.convert_to_numpy(theirs(x, training=False)),
        atol=1e-5,
    )


def test_time_distributed_batch_normalization_fits_as_keras():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(8, 3, 4, 4, 1)).astype("float32")
    y = rng.normal(size=(8, 1)).astype("float32")

    def build(api):
        model = api.Sequential(
            [
                api.Input((3, 4, 4, 1)),
                api.layers.TimeDistributed(api.layers.Conv2D(2, 3)),
                api.layers.TimeDistributed(api.layers.BatchNormalization()),
                api.layers.TimeDistributed(api.layers.Flatten()),
                api.layers.LSTM(3),
                api.layers.Dense(1),
            ]
        )
        model.compile(optimizer=api.optimizers.SGD(0.05), loss="mse")
        return model

    theirs, ours = build(keras), build(unrolled)
    ours.set_weights(theirs.get_weights())
    want = theirs.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0).history["loss"]
    got = ours.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(got, want, rtol=1e-5)
    for mine, keras_weight in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(mine, keras_weight, atol=1e-5)
