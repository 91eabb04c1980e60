"""`print(layer)` and `print(model)`: main sizes, the options changed from the defaults,
and the tree of layers torch prints for any module."""

from __future__ import annotations

import warnings

import torch

import unrolled
from unrolled import layers
from unrolled.layers.base import Layer


def test_recurrent_layer_shows_units_and_changed_options_and_its_cell():
    layer = layers.LSTM(4, return_sequences=True, activation="relu")
    assert repr(layer) == (
        "LSTM(\n"
        "  4, activation='relu', return_sequences=True\n"
        "  (cell): LSTMCell(4, activation='relu')\n"
        ")"
    )
    assert repr(layers.GRU(3)) == "GRU(\n  3\n  (cell): GRUCell(3)\n)"
    assert repr(layers.SimpleRNNCell(2, dropout=0.5, seed=1)) == (
        "SimpleRNNCell(2, dropout=0.5, seed=1)"
    )


def test_options_equal_to_the_default_are_not_shown_however_they_were_given():
    # Given explicitly, or in another spelling the config normalizes (None is 'linear').
    assert repr(layers.Dense(3, activation=None, use_bias=True)) == "Dense(3)"
    assert repr(layers.Dense(3, activation="linear")) == "Dense(3)"
    assert repr(layers.GRU(3, reset_after=True).cell) == "GRUCell(3)"
    assert repr(layers.Flatten(data_format="channels_last")) == "Flatten()"


def test_main_sizes_come_positionally_in_the_constructors_order():
    assert repr(layers.Embedding(100, 8, mask_zero=True)) == "Embedding(100, 8, mask_zero=True)"
    assert repr(layers.Dropout(0.25)) == "Dropout(0.25)"
    assert repr(layers.Reshape((2, 3))) == "Reshape((2, 3))"
    assert repr(layers.RepeatVector(4)) == "RepeatVector(4)"
    assert repr(layers.Activation("relu")) == "Activation('relu')"
    assert repr(layers.Masking(mask_value=-1.0)) == "Masking(mask_value=-1.0)"
    assert repr(layers.Concatenate(axis=1)) == "Concatenate(axis=1)"


def test_objects_and_functions_show_by_name():
    def swish(x):
        return x * torch.sigmoid(x)

    dense = layers.Dense(2, activation=swish, kernel_regularizer="l2")
    text = repr(dense)
    assert text.startswith("Dense(2, activation=")
    assert "swish" in text and "kernel_regularizer=L2(l2=0.01)" in text


def test_input_shape_dtype_and_trainable_show_when_given():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        layer = layers.Dense(1, input_shape=(3,), trainable=False)
    assert repr(layer) == "Dense(1, trainable=False, batch_shape=(None, 3))"


def test_wrappers_show_what_they_wrap():
    assert repr(layers.TimeDistributed(layers.Dense(2))) == (
        "TimeDistributed(\n  (layer): Dense(2)\n)"
    )
    assert repr(layers.Bidirectional(layers.GRU(2), merge_mode="sum")) == (
        "Bidirectional(\n"
        "  merge_mode='sum'\n"
        "  (forward_layer): GRU(\n"
        "    2\n"
        "    (cell): GRUCell(2)\n"
        "  )\n"
        "  (backward_layer): GRU(\n"
        "    2, go_backwards=True\n"
        "    (cell): GRUCell(2)\n"
        "  )\n"
        ")"
    )
    stacked = layers.RNN([layers.LSTMCell(3), layers.GRUCell(2)], return_sequences=True)
    assert repr(stacked) == (
        "RNN(\n"
        "  return_sequences=True\n"
        "  (cell): StackedRNNCells(\n"
        "    (cells): ModuleList(\n"
        "      (0): LSTMCell(3)\n"
        "      (1): GRUCell(2)\n"
        "    )\n"
        "  )\n"
        ")"
    )


def test_models_print_their_layers_as_a_numbered_tree():
    model = unrolled.Sequential(
        [unrolled.Input((5, 3)), layers.LSTM(4, return_sequences=True), layers.Dense(1)]
    )
    assert repr(model) == (
        "Sequential(\n"
        "  (0): LSTM(\n"
        "    4, return_sequences=True\n"
        "    (cell): LSTMCell(4)\n"
        "  )\n"
        "  (1): Dense(1)\n"
        ")"
    )
    inputs = unrolled.Input((5, 3))
    functional = unrolled.Model(inputs, layers.Dense(1)(layers.GRU(2)(inputs)))
    assert repr(functional) == (
        "Model(\n  (0): GRU(\n    2\n    (cell): GRUCell(2)\n  )\n  (1): Dense(1)\n)"
    )


def test_repr_draws_no_random_numbers_and_changes_no_names():
    layer = layers.Bidirectional(layers.LSTM(3, input_shape=(5, 2)))
    state = torch.get_rng_state()
    before = layers.Dense(1).name
    repr(layer)
    after = layers.Dense(1).name
    assert torch.equal(torch.get_rng_state(), state)
    assert int(after.rpartition("_")[2]) == int(before.rpartition("_")[2] or 0) + 1


def test_a_user_layer_shows_its_changed_options_from_its_signature():
    class Scale(Layer):
        def __init__(self, factor: float = 1.0, offset: float = 0.0, **kwargs):
            super().__init__(**kwargs)
            self.factor, self.offset = factor, offset

        def get_config(self):
            return {**super().get_config(), "factor": self.factor, "offset": self.offset}

    assert repr(Scale(factor=2.0)) == "Scale(factor=2.0)"

    class Unmakeable(Scale):  # a config that cannot rebuild it: the signature decides
        def __init__(self, table, factor: float = 1.0, **kwargs):
            super().__init__(factor, **kwargs)

    assert repr(Unmakeable([1, 2], factor=3.0)) == "Unmakeable(factor=3.0)"
