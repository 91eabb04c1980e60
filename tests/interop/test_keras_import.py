"""`from_keras` against real Keras 3: models trained briefly in Keras, saved, imported, compared.

Each model is built and fitted for one epoch on tiny data with Keras (torch backend), saved
as `.keras` and as legacy `.h5` (Keras 3's writer, and hand-made tf.keras 2 and Keras 1
files in those versions' layout, see `oracles/legacy_keras_files.py`), imported without
Keras, and its predictions compared with Keras's to 1e-5.
"""

from __future__ import annotations

import json
import zipfile

import keras
import numpy as np
import pytest
import torch
from oracles import legacy_keras_files as legacy

import unrolled
from unrolled.errors import ConfigError
from unrolled.interop import UnsupportedLayerError, from_keras
from unrolled.interop.keras_config import hard_sigmoid_keras2

pytestmark = pytest.mark.filterwarnings(
    "ignore:You are saving your model as an HDF5 file",
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning",
)

L = keras.layers
B, T, F = 6, 5, 3
TOL = 1e-5


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _fit(model: keras.Model, x: object, y: np.ndarray) -> keras.Model:
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=1, batch_size=3, verbose=0)
    return model


def _keras_predict(model: keras.Model, x: object) -> list[np.ndarray]:
    out = model(x, training=False)
    outs = out if isinstance(out, (list, tuple)) else [out]
    return [keras.ops.convert_to_numpy(o) for o in outs]


def _ours(model: torch.nn.Module, x: object) -> list[np.ndarray]:
    with torch.no_grad():
        out = model(*x) if isinstance(x, list) else model(x)
    outs = out if isinstance(out, (list, tuple)) else [out]
    return [o.numpy() for o in outs]


def _assert_same_predictions(path: object, keras_model: keras.Model, x: object) -> object:
    ours = from_keras(path)
    for got, want in zip(_ours(ours, x), _keras_predict(keras_model, x), strict=True):
        np.testing.assert_allclose(got, want, atol=TOL, rtol=0)
    return ours


def _masked_sequences(rng: np.random.Generator) -> np.ndarray:
    x = rng.normal(size=(B, T, F)).astype(np.float32)
    x[0, 3:] = 0.0  # post-padding
    x[1, :2] = 0.0  # pre-padding
    x[2, 2] = 0.0  # a hole
    return x


@pytest.fixture(scope="module")
def sequential_recurrent(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    """Masking, Bidirectional LSTM, GRU(reset_after=False), TimeDistributed, SimpleRNN,
    RepeatVector and an LSTM decoder, trained one epoch on masked data."""
    rng = _rng(1)
    model = keras.Sequential(
        [
            keras.Input((T, F)),
            L.Masking(0.0),
            L.Bidirectional(L.LSTM(4, return_sequences=True)),
            L.GRU(3, reset_after=False, return_sequences=True),
            L.TimeDistributed(L.Dense(4, activation="relu")),
            L.SimpleRNN(3),
            L.RepeatVector(2),
            L.LSTM(2, return_sequences=True),
        ]
    )
    x = _masked_sequences(rng)
    _fit(model, x, rng.normal(size=(B, 2, 2)).astype(np.float32))
    folder = tmp_path_factory.mktemp("sequential")
    model.save(folder / "model.keras")
    model.save(folder / "model.h5")
    legacy.write_tf_keras2_h5(model, folder / "tf2.h5")
    return model, x, folder


@pytest.mark.parametrize("file", ["model.keras", "model.h5", "tf2.h5"])
def test_sequential_recurrent_model_predicts_as_keras(
    sequential_recurrent: tuple, file: str
) -> None:
    model, x, folder = sequential_recurrent
    ours = _assert_same_predictions(folder / file, model, x)
    assert isinstance(ours, unrolled.Sequential)
    assert [layer.name for layer in ours.layers] == [layer.name for layer in model.layers]


def test_embedding_mask_zero_and_gru_reset_after(tmp_path) -> None:
    rng = _rng(2)
    model = keras.Sequential(
        [
            keras.Input((T,)),
            L.Embedding(12, 4, mask_zero=True),
            L.GRU(5, reset_after=True, return_sequences=True, dropout=0.1, recurrent_dropout=0.1),
            L.Dropout(0.3),
            L.GRU(3),
            L.Dense(2),
            L.Activation("tanh"),
        ]
    )
    x = rng.integers(1, 12, size=(B, T)).astype(np.float32)
    x[0, 3:] = 0
    x[1, :2] = 0
    _fit(model, x, rng.normal(size=(B, 2)).astype(np.float32))
    model.save(tmp_path / "m.keras")
    legacy.write_tf_keras2_h5(model, tmp_path / "tf2.h5")
    _assert_same_predictions(tmp_path / "m.keras", model, x)
    _assert_same_predictions(tmp_path / "tf2.h5", model, x)


@pytest.mark.parametrize("merge_mode", ["sum", "mul", "ave"])
def test_bidirectional_merge_modes_and_backward_layer(tmp_path, merge_mode: str) -> None:
    rng = _rng(3)
    backward = L.LSTM(3, return_sequences=True, go_backwards=True, activation="relu")
    model = keras.Sequential(
        [
            keras.Input((T, F)),
            L.Bidirectional(L.LSTM(3, return_sequences=True), merge_mode, backward_layer=backward),
            L.Bidirectional(L.SimpleRNN(2), merge_mode=merge_mode),
        ]
    )
    x = rng.normal(size=(B, T, F)).astype(np.float32)
    _fit(model, x, rng.normal(size=(B, 2)).astype(np.float32))
    model.save(tmp_path / "m.keras")
    _assert_same_predictions(tmp_path / "m.keras", model, x)


@pytest.fixture(scope="module")
def functional_model(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    """Two inputs, an encoder's states starting a decoder, merges, Flatten and Reshape."""
    rng = _rng(4)
    a = keras.Input((T, F), name="series")
    b = keras.Input((4,), name="tokens")
    encoded, h, c = L.LSTM(4, return_state=True)(a)
    embedded = L.Embedding(10, 3)(b)
    decoded = L.LSTM(4, return_sequences=True)(embedded, initial_state=[h, c])
    pair = L.Bidirectional(L.GRU(2, return_sequences=True), merge_mode=None)(decoded)
    joined = L.Concatenate()([pair[0], pair[1]])  # (samples, 4, 4)
    flat = L.Flatten()(L.Reshape((8, 2))(joined))
    summary = L.Dense(4)(flat)
    merged = L.Average()(
        [L.Add()([encoded, summary]), L.Subtract()([h, c]), L.Multiply()([h, summary])]
    )
    y = L.Dense(1)(merged)
    model = keras.Model([a, b], [y, encoded])
    x = [
        rng.normal(size=(B, T, F)).astype(np.float32),
        rng.integers(0, 10, (B, 4)).astype(np.float32),
    ]
    model.compile(optimizer="adam", loss=["mse", "mse"])
    model.fit(x, [rng.normal(size=(B, 1)), rng.normal(size=(B, 4))], epochs=1, verbose=0)
    folder = tmp_path_factory.mktemp("functional")
    model.save(folder / "model.keras")
    model.save(folder / "model.h5")
    legacy.write_tf_keras2_h5(model, folder / "tf2.h5")
    return model, x, folder


@pytest.mark.parametrize("file", ["model.keras", "model.h5", "tf2.h5"])
def test_functional_model_predicts_as_keras(functional_model: tuple, file: str) -> None:
    model, x, folder = functional_model
    ours = _assert_same_predictions(folder / file, model, x)
    assert isinstance(ours, unrolled.Model)
    assert ours.get_layer("series").name == "series"


def test_keras3_recurrent_layer_with_initial_state_ignores_the_mask_as_keras_does(tmp_path) -> None:
    # Keras 3 fills in `mask` only for calls with one tensor argument: a decoder called with
    # initial_state runs unmasked, while the layers after it still see the mask.
    rng = _rng(5)
    tokens = keras.Input((T,))
    state = keras.Input((3,))
    embedded = L.Embedding(9, 3, mask_zero=True)(tokens)
    decoded = L.LSTM(3, return_sequences=True)(embedded, initial_state=[state, state])
    y = L.GRU(2)(decoded)
    model = keras.Model([tokens, state], y)
    x = [rng.integers(1, 9, (B, T)).astype(np.float32), rng.normal(size=(B, 3)).astype(np.float32)]
    x[0][:, :2] = 0
    model.save(tmp_path / "m.keras")
    _assert_same_predictions(tmp_path / "m.keras", model, x)


def test_stateful_model_carries_state_as_keras(tmp_path) -> None:
    rng = _rng(6)
    model = keras.Sequential(
        [
            keras.Input(batch_shape=(2, None, F)),
            L.LSTM(4, stateful=True, return_sequences=True, use_cudnn=False),
            L.GRU(3, stateful=True, use_cudnn=False),
            L.Dense(1),
        ]
    )
    model.save(tmp_path / "m.keras")
    ours = from_keras(tmp_path / "m.keras")
    for _chunk in range(3):
        x = rng.normal(size=(2, 4, F)).astype(np.float32)
        np.testing.assert_allclose(_ours(ours, x)[0], _keras_predict(model, x)[0], atol=TOL, rtol=0)
    assert ours.layers[0].stateful


def test_generic_rnn_over_cells_and_stacked_cells(tmp_path) -> None:
    rng = _rng(7)
    model = keras.Sequential(
        [
            keras.Input((T, F)),
            L.RNN(L.GRUCell(3), return_sequences=True),
            L.RNN([L.LSTMCell(3), L.SimpleRNNCell(2)]),
        ]
    )
    x = rng.normal(size=(B, T, F)).astype(np.float32)
    _fit(model, x, rng.normal(size=(B, 2)).astype(np.float32))
    model.save(tmp_path / "m.keras")
    _assert_same_predictions(tmp_path / "m.keras", model, x)


def test_keras1_file_with_per_gate_weights_and_old_names(tmp_path) -> None:
    rng = _rng(8)
    twin = keras.Sequential(
        [
            keras.Input((T, F)),
            L.LSTM(4, return_sequences=True, recurrent_activation="sigmoid"),
            L.GRU(3, reset_after=False, recurrent_activation="sigmoid"),
            L.Dense(2, activation="relu"),
        ]
    )
    lstm, gru, dense = (layer.get_weights() for layer in twin.layers)
    layers = [
        {
            "class_name": "LSTM",
            "config": {
                "name": "lstm_1",
                "output_dim": 4,
                "init": "glorot_uniform",
                "inner_init": "orthogonal",
                "forget_bias_init": "one",
                "activation": "tanh",
                "inner_activation": "sigmoid",
                "W_regularizer": {"l2": 0.01, "name": "WeightRegularizer", "l1": 0.0},
                "U_regularizer": None,
                "b_regularizer": None,
                "dropout_W": 0.0,
                "dropout_U": 0.0,
                "return_sequences": True,
                "go_backwards": False,
                "stateful": False,
                "unroll": False,
                "consume_less": "cpu",
                "input_dim": F,
                "input_length": T,
                "batch_input_shape": [None, T, F],
                "trainable": True,
            },
        },
        {
            "class_name": "GRU",
            "config": {
                "name": "gru_1",
                "output_dim": 3,
                "activation": "tanh",
                "inner_activation": "sigmoid",
                "return_sequences": False,
                "consume_less": "gpu",
            },
        },
        {
            "class_name": "Dense",
            "config": {"name": "dense_1", "output_dim": 2, "activation": "relu", "bias": True},
        },
    ]
    weights = {
        "lstm_1": legacy.keras1_lstm_weights("lstm_1", *lstm),
        "gru_1": legacy.keras1_gru_weights("gru_1", *gru),
        "dense_1": [("dense_1_W", dense[0]), ("dense_1_b", dense[1])],
    }
    path = legacy.write_keras1_h5(tmp_path / "k1.h5", layers, weights)
    x = rng.normal(size=(B, T, F)).astype(np.float32)
    ours = _assert_same_predictions(path, twin, x)
    assert ours.layers[0].kernel_regularizer.l2 == pytest.approx(0.01)


def test_keras2_hard_sigmoid_keeps_keras2_definition(tmp_path) -> None:
    rng = _rng(9)
    model = keras.Sequential([keras.Input((T, F)), L.LSTM(3, recurrent_activation="hard_sigmoid")])
    legacy.write_tf_keras2_h5(model, tmp_path / "tf2.h5")
    ours = from_keras(tmp_path / "tf2.h5")
    assert ours.layers[0].cell.recurrent_activation is hard_sigmoid_keras2
    x = torch.linspace(-4, 4, 9)
    np.testing.assert_allclose(hard_sigmoid_keras2(x).numpy(), np.clip(0.2 * x.numpy() + 0.5, 0, 1))
    # The same file from Keras 3 means Keras 3's hard_sigmoid.
    model.save(tmp_path / "m.keras")
    assert (
        from_keras(tmp_path / "m.keras").layers[0].cell.recurrent_activation
        is not hard_sigmoid_keras2
    )
    assert _ours(ours, rng.normal(size=(2, T, F)).astype(np.float32))[0].shape == (2, 3)


# -- what is refused --------------------------------------------------------------------------------
def test_lambda_layer_is_refused_by_name_without_running_it(tmp_path) -> None:
    ran = []

    def spy(t):  # would append if the importer ever ran code from the file
        ran.append(1)
        return t

    model = keras.Sequential([keras.Input((T, F)), L.Lambda(spy, name="my_lambda"), L.LSTM(2)])
    model.save(tmp_path / "m.keras")
    ran.clear()
    with pytest.raises(UnsupportedLayerError, match=r"'my_lambda' \(Lambda\).*never executes code"):
        from_keras(tmp_path / "m.keras")
    assert not ran


def test_unsupported_layer_lists_the_supported_ones(tmp_path) -> None:
    # SeparableConv1D: a convolution unrolled does not have (Conv1D imports since issue 16).
    model = keras.Sequential([keras.Input((T, F)), L.SeparableConv1D(2, 2, name="conv"), L.LSTM(2)])
    model.save(tmp_path / "m.keras")
    with pytest.raises(
        ValueError, match=r"'conv' \(SeparableConv1D\).*Supported layers: .*Conv1D.*LSTM"
    ):
        from_keras(tmp_path / "m.keras")


def test_custom_activation_is_refused(tmp_path) -> None:
    model = keras.Sequential([keras.Input((T, F)), L.LSTM(2), L.Dense(1, name="out")])
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        files = {n: archive.read(n) for n in archive.namelist()}
    config = json.loads(files["config.json"])
    config["config"]["layers"][-1]["config"]["activation"] = {
        "module": "builtins",
        "class_name": "function",
        "config": "my_activation",
        "registered_name": "function",
    }
    files["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(tmp_path / "custom.keras", "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    with pytest.raises(UnsupportedLayerError, match="'out'.*custom activation 'my_activation'"):
        from_keras(tmp_path / "custom.keras")


def test_a_file_that_is_not_a_keras_model_is_a_config_error(tmp_path) -> None:
    (tmp_path / "x.keras").write_bytes(b"not a model")
    with pytest.raises(ConfigError, match="neither"):
        from_keras(tmp_path / "x.keras")
    model = keras.Sequential([keras.Input((T, F)), L.LSTM(2)])
    model.save_weights(tmp_path / "only.weights.h5")
    with pytest.raises(ConfigError, match="weights-only"):
        from_keras(tmp_path / "only.weights.h5")


def test_imported_models_save_and_load_in_unrolled_format(
    functional_model: tuple, tmp_path
) -> None:
    model, x, folder = functional_model
    for source in ("model.keras", "tf2.h5"):
        ours = from_keras(folder / source)
        ours.save(tmp_path / "copy.unrolled")
        again = unrolled.load_model(tmp_path / "copy.unrolled")
        for got, want in zip(_ours(again, x), _keras_predict(model, x), strict=True):
            np.testing.assert_allclose(got, want, atol=TOL, rtol=0)
    # A Keras 2 activation survives the round trip.
    keras2 = keras.Sequential([keras.Input((T, F)), L.GRU(2, recurrent_activation="hard_sigmoid")])
    legacy.write_tf_keras2_h5(keras2, tmp_path / "hs.h5")
    from_keras(tmp_path / "hs.h5").save(tmp_path / "hs.unrolled")
    cell = unrolled.load_model(tmp_path / "hs.unrolled").layers[0].cell
    assert cell.recurrent_activation is hard_sigmoid_keras2
