"""Keras 2's module paths under `keras.layers`: the names each module held, by module.

Keras 2 scripts import layers from the module that defined them
(`from keras.layers.recurrent import LSTM`, `from keras.layers.core import Dense`). Our
modules of the same names (`unrolled.layers.recurrent`, `.core`, ...) hold our own code,
which is organised otherwise; each ends with `__getattr__ = keras2_names(__name__)`, so
the names Keras 2 had there and the module lacks are looked up in `unrolled.layers` when
first read. Lazily, because those layers' modules import these ones.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

# Keras 2.x's `keras/layers/<module>.py` contents (the layers, and the functional helpers).
KERAS2_MODULES: dict[str, tuple[str, ...]] = {
    "recurrent": (
        "RNN", "SimpleRNN", "GRU", "LSTM", "SimpleRNNCell", "GRUCell", "LSTMCell",
        "StackedRNNCells",
    ),
    "convolutional": (
        "Conv1D", "Conv2D", "Conv3D", "Convolution1D", "Convolution2D", "Convolution3D",
        "Conv2DTranspose", "UpSampling1D", "UpSampling2D", "UpSampling3D", "ZeroPadding1D",
        "ZeroPadding2D", "ZeroPadding3D", "Cropping1D", "Cropping2D", "Cropping3D",
        # and its legacy re-exports of the poolings, which Keras 1 and 2 scripts import too
        "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D",
        "AveragePooling3D", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
        "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
    ),
    "convolutional_recurrent": ("ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"),
    "normalization": ("BatchNormalization", "LayerNormalization"),
    "pooling": (
        "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D",
        "AveragePooling3D", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
        "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
    ),
    "core": (
        "Dense", "Dropout", "Activation", "Flatten", "Reshape", "Permute", "RepeatVector",
        "Lambda", "Masking", "ActivityRegularization", "SpatialDropout1D", "SpatialDropout2D",
        "SpatialDropout3D",
    ),
    "wrappers": ("TimeDistributed", "Bidirectional"),
    "merge": (
        "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot",
        "add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate", "dot",
    ),
    "advanced_activations": ("LeakyReLU", "PReLU", "ELU", "ThresholdedReLU", "Softmax", "ReLU"),
    "embeddings": ("Embedding",),
    "noise": ("GaussianNoise", "GaussianDropout", "AlphaDropout"),
}  # fmt: skip


def keras2_names(module_name: str) -> Callable[[str], Any]:
    """A module `__getattr__` that finds the names Keras 2 had in `module_name` in
    `unrolled.layers`.

    Example:
        >>> from unrolled.layers.core import Permute
        >>> Permute is unrolled.layers.Permute
        True
    """
    short = module_name.rpartition(".")[2]
    names = KERAS2_MODULES[short]

    def __getattr__(name: str) -> Any:
        if name in names:
            layers = importlib.import_module("unrolled.layers")
            found = layers.__dict__.get(name)
            if found is not None:
                return found
            raise AttributeError(
                f"keras.layers.{short}.{name} (Keras 2) has no unrolled counterpart yet; "
                f"unrolled.layers has no {name}."
            )
        raise AttributeError(f"module {module_name!r} has no attribute {name!r}")

    return __getattr__
