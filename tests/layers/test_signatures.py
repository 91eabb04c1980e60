"""Constructors spell out Keras's arguments: IDEs, type checkers and `help()` see them."""

from __future__ import annotations

import inspect
import warnings

import pytest

import unrolled
from unrolled.layers import GRU, LSTM, RNN, Dense, GRUCell, LSTMCell, SimpleRNN, SimpleRNNCell
from unrolled.layers.base import Layer

keras = pytest.importorskip("keras")

RECURRENT = [(LSTM, LSTMCell), (GRU, GRUCell), (SimpleRNN, SimpleRNNCell)]
_EMPTY = inspect.Parameter.empty


def named_parameters(function):
    return {
        name: p
        for name, p in inspect.signature(function).parameters.items()
        if name != "self" and p.kind is not inspect.Parameter.VAR_KEYWORD
    }


def signature_defaults(cls):
    """Each argument's default as the first class of the MRO that names it declares it."""
    defaults = {}
    for klass in cls.__mro__:
        if "__init__" in klass.__dict__ and issubclass(klass, Layer):
            for name, p in named_parameters(klass.__init__).items():
                defaults.setdefault(name, p.default)
    return defaults


@pytest.mark.parametrize("ours", [LSTM, GRU, SimpleRNN, Dense], ids=lambda c: c.__name__)
def test_every_keras_argument_is_ours_with_keras_default_in_keras_order(ours):
    theirs = named_parameters(getattr(keras.layers, ours.__name__).__init__)
    mine = named_parameters(ours.__init__)
    # Keras 3's Dense has LoRA and quantization arguments, which we do not offer.
    expected = {k: p for k, p in theirs.items() if not k.startswith(("lora_", "quantization"))}
    missing = sorted(set(expected) - set(mine))
    assert not missing, f"{ours.__name__} lacks Keras's {missing}"
    for name, p in expected.items():
        assert mine[name].default == p.default, name
        assert mine[name].kind is p.kind, name
    assert [n for n in mine if n in expected] == list(expected)  # positional calls agree
    assert all(p.annotation is not _EMPTY for p in mine.values()), "every argument is typed"


@pytest.mark.parametrize("layer_class, cell_class", RECURRENT, ids=lambda c: c.__name__)
def test_layer_arguments_agree_with_the_cell_and_rnn_defaults(layer_class, cell_class):
    # The layer restates its options for readers; the cell and RNN own them. A default
    # changed in one place only would make LSTM(4) and RNN(LSTMCell(4)) differ.
    owners = {**signature_defaults(RNN), **signature_defaults(cell_class)}
    for name, p in named_parameters(layer_class.__init__).items():
        assert name in owners, f"{layer_class.__name__}({name}=) is neither the cell's nor RNN's"
        assert p.default == owners[name], name


@pytest.mark.parametrize("layer_class, cell_class", RECURRENT, ids=lambda c: c.__name__)
def test_layer_passes_every_option_to_its_cell_or_itself(layer_class, cell_class):
    plain = {
        "activation": "relu",
        "use_bias": False,
        "kernel_initializer": "ones",
        "recurrent_initializer": "zeros",
        "bias_initializer": "ones",
        "dropout": 0.25,
        "recurrent_dropout": 0.5,
        "seed": 7,
        "return_sequences": True,
        "return_state": True,
        "go_backwards": True,
        "stateful": True,
        "unroll": True,
        "use_cudnn": False,
        "zero_output_for_mask": True,
    }
    if layer_class is not SimpleRNN:
        plain["recurrent_activation"] = "tanh"
    if layer_class is LSTM:
        plain["unit_forget_bias"] = False
    if layer_class is GRU:
        plain["reset_after"] = False
    rules = {
        "kernel_regularizer": "l2",
        "recurrent_regularizer": "l1",
        "bias_regularizer": "l1_l2",
        "kernel_constraint": "non_neg",
        "recurrent_constraint": "unit_norm",
        "bias_constraint": "max_norm",
    }
    activity = unrolled.regularizers.L2(0.5)
    layer = layer_class(3, activity_regularizer=activity, **plain, **rules)
    config = layer.get_config()
    assert config["units"] == 3 == layer.cell.units
    for key, value in plain.items():
        assert config[key] == value, key
    cell_names = set(signature_defaults(cell_class))
    for key in plain.keys() - cell_names:
        assert getattr(layer, key) == plain[key], key
    for key in plain.keys() & cell_names:
        assert layer.cell.get_config()[key] == plain[key], key
    for key in rules:
        assert callable(getattr(layer.cell, key)), key
    assert layer.activity_regularizer is activity and layer.cell.activity_regularizer is None


def test_legacy_shape_arguments_still_reach_the_layer():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from_batch = LSTM(4, batch_input_shape=(2, 5, 3), stateful=True)
        from_dims = GRU(4, input_dim=3, input_length=5)
    assert from_batch.batch_shape == (2, 5, 3) and from_batch.built
    assert from_dims.batch_shape == (None, 5, 3)
    assert SimpleRNN(4, input_shape=(5, 3), name="given", trainable=False).name == "given"


def test_keras_positional_arguments_mean_what_they_mean_in_keras():
    layer = LSTM(4, "relu", "tanh", False)
    assert layer.get_config()["activation"] == "relu"
    assert layer.get_config()["recurrent_activation"] == "tanh"
    assert layer.get_config()["use_bias"] is False
    assert Dense(3, "relu").get_config()["activation"] == "relu"


def test_dense_units_is_required_and_keras1_output_dim_still_works():
    assert inspect.signature(Dense).parameters["units"].default is _EMPTY
    with pytest.warns(DeprecationWarning, match="output_dim"):
        assert Dense(output_dim=3).units == 3
    with pytest.raises(unrolled.ConfigError, match="not both"), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        Dense(3, output_dim=4)
