"""Every layer's config survives `from_config(get_config())`, and every model kind survives
`save` / `load_model` with identical predictions."""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest
import torch

import unrolled
from unrolled import layers, topologies
from unrolled.layers.base import Layer
from unrolled.saving import serialization
from unrolled.saving.registry import _BUILTIN


def _configs() -> dict[str, Layer]:
    """One instance of each public layer class, with non-default options where it matters."""
    return {
        "Layer": Layer(name="plain"),
        "Activation": layers.Activation("relu"),
        "Add": layers.Add(),
        "Average": layers.Average(),
        "Multiply": layers.Multiply(),
        "Subtract": layers.Subtract(),
        "Concatenate": layers.Concatenate(axis=1),
        "Maximum": layers.Maximum(),
        "Minimum": layers.Minimum(),
        "Dot": layers.Dot(axes=(1, 2), normalize=True),
        "Permute": layers.Permute((2, 1)),
        "Attention": layers.Attention(use_scale=True, score_mode="concat", dropout=0.1, seed=3),
        "AdditiveAttention": layers.AdditiveAttention(use_scale=False),
        "MultiHeadAttention": layers.MultiHeadAttention(
            2, 3, value_dim=4, output_shape=(2,), kernel_regularizer="l2", use_gate=True
        ),
        "Dense": layers.Dense(
            3,
            activation="tanh",
            use_bias=False,
            kernel_regularizer=unrolled.regularizers.L1L2(0.1, 0.2),
            kernel_constraint=unrolled.constraints.MaxNorm(3.0),
            input_shape=(4,),
        ),
        "Dropout": layers.Dropout(0.3, noise_shape=(None, 1, None), seed=4),
        "Embedding": layers.Embedding(10, 4, mask_zero=True, embeddings_regularizer="l2"),
        "Flatten": layers.Flatten(data_format="channels_first"),
        "Reshape": layers.Reshape((-1, 2)),
        "RepeatVector": layers.RepeatVector(3),
        "Masking": layers.Masking(-1.0),
        "InputLayer": layers.InputLayer((None, 5, 2), name="inputs"),
        "LSTM": layers.LSTM(
            4,
            return_sequences=True,
            go_backwards=True,
            unit_forget_bias=False,
            recurrent_constraint="non_neg",
            activity_regularizer="l1",
        ),
        "GRU": layers.GRU(3, reset_after=False, return_state=True, dropout=0.2, seed=1),
        "SimpleRNN": layers.SimpleRNN(2, activation="relu", stateful=True),
        "LSTMCell": layers.LSTMCell(5, recurrent_dropout=0.1),
        "GRUCell": layers.GRUCell(5),
        "SimpleRNNCell": layers.SimpleRNNCell(5, use_bias=False),
        "StackedRNNCells": layers.StackedRNNCells([layers.LSTMCell(3), layers.GRUCell(2)]),
        "RNN": layers.RNN([layers.SimpleRNNCell(3), layers.LSTMCell(2)], return_sequences=True),
        "TimeDistributed": layers.TimeDistributed(layers.Dense(2, activation="relu")),
        "Bidirectional": layers.Bidirectional(
            layers.GRU(3, return_sequences=True), merge_mode="sum"
        ),
        "Lambda": layers.Lambda(_double, output_shape=(3,)),
        "ConvLSTM1D": layers.ConvLSTM1D(2, 3, strides=2, padding="same", return_state=True),
        "ConvLSTM2D": layers.ConvLSTM2D(
            3, (3, 2), dilation_rate=2, return_sequences=True, recurrent_dropout=0.1, seed=2
        ),
        "ConvLSTM3D": layers.ConvLSTM3D(2, 2, data_format="channels_first", stateful=True),
    }


@unrolled.saving.register_serializable(package="Tests")
def _double(x: torch.Tensor) -> torch.Tensor:
    return 2 * x


_POOLING_KINDS = ("MaxPooling", "AveragePooling", "GlobalMaxPooling", "GlobalAveragePooling")
_SHORT_POOLING_KINDS = ("MaxPool", "AvgPool", "GlobalMaxPool", "GlobalAvgPool")


def test_every_public_layer_class_is_covered() -> None:
    public = {
        name
        for name, obj in vars(layers).items()
        if inspect.isclass(obj) and issubclass(obj, Layer) and obj is not layers.Cell
    }
    # Cropping1D, Conv1D and the poolings: round trips in their authors' tests
    # (tests/layers/test_convolutional.py::test_config_round_trip_of_every_layer).
    by_authors = {"Cropping1D", "Conv1D", "Convolution1D", "MaxPooling1D", "AveragePooling1D"}
    by_authors |= {"GlobalMaxPooling1D", "GlobalAveragePooling1D"}
    # The 2-D/3-D convolutions and poolings, UpSampling1D, ZeroPadding1D:
    # tests/layers/test_convolutional_nd.py::test_config_round_trip_of_every_new_layer.
    by_authors |= {"Conv2D", "Conv3D", "Convolution2D", "Convolution3D", "UpSampling1D"}
    by_authors |= {"ZeroPadding1D"} | {f"{kind}{n}D" for kind in _POOLING_KINDS for n in (2, 3)}
    # Keras's short names of the poolings (MaxPool2D, GlobalAvgPool1D, ...): the same classes.
    by_authors |= {f"{kind}{n}D" for kind in _SHORT_POOLING_KINDS for n in (1, 2, 3)}
    # Normalizations, activation, noise layers: tests/layers/test_normalization.py,
    # test_advanced_activations.py and test_noise_layers.py (round trips and save/load).
    by_authors |= {"BatchNormalization", "LayerNormalization", "ReLU", "LeakyReLU", "PReLU"}
    by_authors |= {"ELU", "Softmax", "SpatialDropout1D", "GaussianNoise", "GaussianDropout"}
    by_authors |= {"ActivityRegularization"}
    assert public <= set(_configs()) | by_authors


@pytest.mark.parametrize("name", sorted(_configs()))
def test_from_config_of_get_config_gives_an_equal_config(name: str) -> None:
    layer = _configs()[name]
    cls = type(layer)
    rebuilt = cls.from_config(layer.get_config())
    assert type(rebuilt) is cls
    assert serialization.serialize(rebuilt.get_config()) == serialization.serialize(
        layer.get_config()
    )


@pytest.mark.parametrize("name", sorted(_configs()))
def test_json_round_trip_through_the_registry_gives_an_equal_config(name: str) -> None:
    layer = _configs()[name]
    spec = serialization.serialize_object(layer)
    rebuilt = serialization.deserialize_object(spec)
    assert serialization.serialize_object(rebuilt) == spec


def test_builtin_registry_holds_every_public_layer() -> None:
    table = _BUILTIN["unrolled.layers"]
    for name, obj in vars(layers).items():
        if inspect.isclass(obj) and issubclass(obj, Layer):
            assert table[name] is obj


# -- models: identical predictions after save/load -----------------------------------------------


def _x(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def _shared_encoder_model() -> unrolled.Model:
    # Two inputs through one shared LSTM (one layer, two nodes), merged, two outputs.
    a, b = unrolled.Input((6, 3), name="left"), unrolled.Input((6, 3), name="right")
    shared = layers.LSTM(4, name="shared")
    merged = layers.Concatenate(name="merged")([shared(a), shared(b)])
    return unrolled.Model(
        [a, b], [layers.Dense(1, name="value")(merged), layers.Dense(2, name="side")(merged)]
    )


def _state_passing_model() -> unrolled.Model:
    # Encoder states handed to a decoder as initial_state (a keyword argument holding tensors).
    encoder_in, decoder_in = unrolled.Input((5, 2)), unrolled.Input((4, 3))
    _, h, c = layers.LSTM(6, return_state=True)(encoder_in)
    decoded = layers.LSTM(6, return_sequences=True)(decoder_in, initial_state=[h, c])
    return unrolled.Model(
        [encoder_in, decoder_in], layers.TimeDistributed(layers.Dense(3))(decoded)
    )


def _nested_model() -> unrolled.Model:
    inner_in = unrolled.Input((6, 3))
    encoder = unrolled.Model(inner_in, layers.GRU(4)(inner_in), name="encoder")
    outer_in = unrolled.Input((6, 3))
    decoder = unrolled.Sequential(
        [layers.RepeatVector(6), layers.SimpleRNN(3, return_sequences=True)]
    )
    return unrolled.Model(outer_in, decoder(encoder(outer_in)))


MODELS = {
    "sequential": (
        lambda: unrolled.Sequential(
            [
                layers.LSTM(5, input_shape=(6, 3), return_sequences=True),
                layers.GRU(4),
                layers.Dense(2),
            ]
        ),
        lambda: _x(7, 6, 3),
    ),
    "masked_embedding": (
        lambda: unrolled.Sequential(
            [
                layers.Embedding(12, 4, mask_zero=True, input_shape=(6,)),
                layers.LSTM(3),
                layers.Dense(1),
            ]
        ),
        lambda: np.array([[0, 0, 3, 4, 5, 6], [1, 2, 3, 0, 0, 0]]),
    ),
    "wrappers": (
        lambda: unrolled.Sequential(
            [
                unrolled.Input((6, 3)),
                layers.Masking(0.0),
                layers.Bidirectional(layers.LSTM(3, return_sequences=True)),
                layers.TimeDistributed(layers.Dense(2)),
                layers.RNN([layers.LSTMCell(3), layers.GRUCell(2)]),
                layers.Dropout(0.5),
                layers.Lambda(_double),
            ]
        ),
        lambda: _x(4, 6, 3),
    ),
    "shared_layer_two_outputs": (_shared_encoder_model, lambda: [_x(3, 6, 3), _x(3, 6, 3, seed=1)]),
    "initial_state_keyword": (_state_passing_model, lambda: [_x(3, 5, 2), _x(3, 4, 3, seed=1)]),
    "nested_models": (_nested_model, lambda: _x(3, 6, 3)),
    "built_from_data": (
        lambda: _built_from_data(unrolled.Sequential([layers.SimpleRNN(3), layers.Dense(1)])),
        lambda: _x(2, 4, 2),
    ),
}


def _built_from_data(model: unrolled.Sequential) -> unrolled.Sequential:
    model.predict(_x(2, 4, 2), verbose=0)
    return model


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_saved_model_predicts_the_same_after_loading(kind: str, tmp_path: Path) -> None:
    build, data = MODELS[kind]
    model = build()
    x = data()
    expected = model.predict(x, verbose=0)
    path = tmp_path / "model.unrolled"
    model.save(path)
    loaded = unrolled.load_model(path)
    assert type(loaded) is type(model)
    got = loaded.predict(x, verbose=0)
    for e, g in zip(
        expected if isinstance(expected, list) else [expected],
        got if isinstance(got, list) else [got],
    ):
        np.testing.assert_array_equal(e, g)
    assert serialization.serialize(loaded.get_config()) == serialization.serialize(
        model.get_config()
    )
    assert [w.shape for w in loaded.get_weights()] == [w.shape for w in model.get_weights()]


def test_model_config_round_trip_without_a_file() -> None:
    model = _shared_encoder_model()
    rebuilt = unrolled.Model.from_config(model.get_config())
    assert rebuilt.get_config() == model.get_config()
    sequential = MODELS["wrappers"][0]()
    assert (
        unrolled.Sequential.from_config(sequential.get_config()).get_config()
        == sequential.get_config()
    )


def test_save_is_deterministic(tmp_path: Path) -> None:
    model = MODELS["sequential"][0]()
    model.save(tmp_path / "a.unrolled")
    model.save(tmp_path / "b.unrolled")
    assert (tmp_path / "a.unrolled").read_bytes() == (tmp_path / "b.unrolled").read_bytes()


TOPOLOGIES = {
    "one_to_one": (lambda: topologies.one_to_one(features=3, outputs=2), (4, 3)),
    "many_to_one": (
        lambda: topologies.many_to_one(timesteps=5, features=3, outputs=2, bidirectional=True),
        (4, 5, 3),
    ),
    "many_to_many": (
        lambda: topologies.many_to_many(timesteps=5, features=3, outputs=2),
        (4, 5, 3),
    ),
    "one_to_many_feedback": (
        lambda: topologies.one_to_many(features=3, steps=4, outputs=3, via="feedback"),
        (4, 3),
    ),
    "seq2seq": (
        lambda: topologies.seq2seq(input_steps=5, output_steps=3, features=3, outputs=3),
        (4, 5, 3),
    ),
    "autoencoder": (
        lambda: topologies.autoencoder(timesteps=5, features=3, latent=2, units=4),
        (4, 5, 3),
    ),
}


@pytest.mark.parametrize("kind", sorted(TOPOLOGIES))
def test_topologies_predict_the_same_after_loading(kind: str, tmp_path: Path) -> None:
    build, shape = TOPOLOGIES[kind]
    model = build()
    x = _x(*shape)
    model.save(tmp_path / "model.unrolled")
    loaded = unrolled.load_model(tmp_path / "model.unrolled")
    assert type(loaded) is type(model)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
