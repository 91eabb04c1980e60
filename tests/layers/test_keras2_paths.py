"""Keras 2's import paths: `from unrolled.layers.recurrent import LSTM` and the like.

Each (module, name) pair below is one that Keras 2 scripts import (Keras 2.x defined the
name in `keras/layers/<module>.py`); the oracle is `unrolled.layers` itself: the name must
import from the module and be the very same object.
"""

from __future__ import annotations

import importlib

import pytest

import unrolled.layers
from unrolled.layers.keras2_paths import KERAS2_MODULES

PAIRS = [
    ("recurrent", "LSTM"),
    ("recurrent", "GRU"),
    ("recurrent", "SimpleRNN"),
    ("convolutional", "Conv1D"),
    ("convolutional", "Conv2D"),
    ("convolutional_recurrent", "ConvLSTM2D"),
    ("normalization", "BatchNormalization"),
    ("pooling", "MaxPooling1D"),
    *(
        ("core", name)
        for name in (
            "Dense", "Dropout", "Activation", "Flatten", "Reshape", "Permute", "RepeatVector",
            "Lambda", "Masking", "ActivityRegularization", "SpatialDropout1D",
        )
    ),
    ("wrappers", "TimeDistributed"),
    ("wrappers", "Bidirectional"),
    ("merge", "concatenate"),
    ("merge", "add"),
    ("merge", "Concatenate"),
    ("advanced_activations", "LeakyReLU"),
    ("advanced_activations", "PReLU"),
    ("advanced_activations", "ELU"),
    ("embeddings", "Embedding"),
    ("noise", "GaussianNoise"),
]  # fmt: skip


@pytest.mark.parametrize("module, name", PAIRS)
def test_a_keras2_import_line_gives_the_same_layer(module, name):
    namespace: dict[str, object] = {}
    exec(f"from unrolled.layers.{module} import {name}", namespace)
    assert namespace[name] is getattr(unrolled.layers, name)


@pytest.mark.parametrize("module", sorted(KERAS2_MODULES))
def test_every_keras2_name_we_have_resolves_to_unrolled_layers(module):
    found = importlib.import_module(f"unrolled.layers.{module}")
    for name in KERAS2_MODULES[module]:
        if hasattr(unrolled.layers, name):
            assert getattr(found, name) is getattr(unrolled.layers, name), name
        else:
            with pytest.raises(AttributeError):  # not yet in unrolled: a clear AttributeError
                getattr(found, name)


def test_other_names_are_plain_attribute_errors():
    core = importlib.import_module("unrolled.layers.core")
    assert not hasattr(core, "LSTM")  # Keras 2 never had it there
