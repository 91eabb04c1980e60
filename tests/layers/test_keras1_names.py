"""Keras 1 argument names of the recurrent layers run, with a DeprecationWarning naming Keras 3's.

The oracle is Keras 3's own layer built with the Keras 3 names: the options that reach the
config are the same (Keras 3 itself refuses the Keras 1 names).
"""

from __future__ import annotations

import keras
import pytest

import unrolled

KERAS1 = {
    "output_dim": 3,
    "init": "he_normal",
    "inner_init": "identity",
    "W_regularizer": "l2",
    "U_regularizer": "l1",
    "dropout_W": 0.1,
    "dropout_U": 0.2,
}
KERAS3 = {
    "units": 3,
    "kernel_initializer": "he_normal",
    "recurrent_initializer": "identity",
    "kernel_regularizer": "l2",
    "recurrent_regularizer": "l1",
    "dropout": 0.1,
    "recurrent_dropout": 0.2,
}


def _plain(value):
    return value if isinstance(value, (int, float, str)) else value.get("class_name", value)


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "SimpleRNN"])
def test_keras1_names_give_keras3s_layer(kind):
    with pytest.warns(
        DeprecationWarning, match="`dropout_U` is the Keras 1 name of `recurrent_dropout`"
    ):
        ours = getattr(unrolled.layers, kind)(**KERAS1).get_config()
    theirs = getattr(keras.layers, kind)(**KERAS3).get_config()
    for key in ("units", "dropout", "recurrent_dropout"):
        assert ours[key] == theirs[key], key
    assert ours["kernel_initializer"] == "he_normal"
    assert _plain(theirs["kernel_initializer"]) in ("HeNormal", "he_normal")


def test_inner_activation_renames_and_a_name_given_twice_is_refused():
    with pytest.warns(DeprecationWarning):
        layer = unrolled.layers.GRU(2, inner_activation="hard_sigmoid")
    assert layer.get_config()["recurrent_activation"] == "hard_sigmoid"
    with pytest.raises(unrolled.ConfigError, match="give `dropout` or the Keras 1 `dropout_W`"):
        with pytest.warns(DeprecationWarning):
            unrolled.layers.LSTM(2, dropout=0.1, dropout_W=0.2)
