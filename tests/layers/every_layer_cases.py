"""One small case per layer class exported from `unrolled.layers`, for test_every_layer.py.

Each case builds the same layer from Keras's names, so `make(keras.layers)` and
`make(unrolled.layers)` give a Keras layer and ours with the same options. A new layer class
needs a case here: the test fails for an exported class without one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from unrolled.saving import register_serializable

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Case:
    """How to put one layer in a model and what its bad inputs are.

    make: builds the layer from a module of Keras-named layers (keras.layers or ours).
    inputs: the input shapes without the samples axis (several for a merge or attention).
    call: "one" (one tensor), "list" (`layer([a, b])`) or "args" (`layer(a, b)`).
    tokens: integer inputs below `tokens` (Embedding) instead of floats.
    fewer, more: an input of one axis fewer / more than the layer takes (without the samples
        axis), or None where the layer takes any rank, as Keras's does.
    wider: the first input with another feature size, refused after the build (None where
        the layer has no weights sized by the features, as in Keras).
    """

    make: Callable[[Any], Any]
    inputs: tuple[Shape, ...]
    call: str = "one"
    tokens: int = 0
    fewer: Shape | None = None
    more: Shape | None = None
    wider: Shape | None = None
    keras_import_refuses: str | None = None  # by design: the words of the refusal


@register_serializable()
def double(x: Any) -> Any:
    """Lambda's function: registered, as our files hold no code (a lambda cannot be saved)."""
    return x * 2.0


SEQ = (4, 3)  # (timesteps, features)
IMAGE = (4, 4, 2)  # (rows, cols, channels)
VOLUME = (3, 3, 3, 2)  # (depth, rows, cols, channels)


def _seq(make: Callable[[Any], Any], wider: bool = True, **kwargs: Any) -> Case:
    """A layer of (samples, timesteps, features) inputs only."""
    return Case(make, (SEQ,), fewer=(3,), more=(4, 3, 3), wider=(4, 5) if wider else None, **kwargs)


def _image(make: Callable[[Any], Any], wider: bool = True) -> Case:
    return Case(make, (IMAGE,), fewer=(4, 2), more=(2, 4, 4, 2), wider=(4, 4, 3) if wider else None)


def _volume(make: Callable[[Any], Any], wider: bool = True) -> Case:
    return Case(
        make,
        (VOLUME,),
        fewer=(3, 3, 2),
        more=(2, 3, 3, 3, 2),
        wider=(3, 3, 3, 3) if wider else None,
    )


def _any_rank(make: Callable[[Any], Any], wider: bool = False) -> Case:
    """An elementwise layer or one over the last axis: any rank, as Keras's."""
    return Case(make, (SEQ,), wider=(4, 5) if wider else None)


def _pair(
    make: Callable[[Any], Any], shapes: tuple[Shape, ...] = (SEQ, SEQ), fewer: Shape | None = None
) -> Case:
    """A layer of two inputs; `fewer` replaces the first one."""
    return Case(make, shapes, call="list", fewer=fewer, wider=None)


# Base classes that are not layers a model holds, with the reason.
NOT_PLACED = {
    "Layer": "the base class of every layer; a user subclasses it",
    "Cell": "the base class of recurrent cells; LSTMCell/GRUCell/SimpleRNNCell are its cases",
    "InputLayer": "every case's model starts with one (Input(...))",
}

CASES: dict[str, Case] = {
    # -- recurrent ---------------------------------------------------------------------------
    "LSTM": _seq(lambda L: L.LSTM(3, name="layer")),
    "GRU": _seq(lambda L: L.GRU(3, return_sequences=True, name="layer")),
    "SimpleRNN": _seq(lambda L: L.SimpleRNN(3, name="layer")),
    "RNN": _seq(lambda L: L.RNN(L.GRUCell(3, name="cell"), name="layer")),
    "LSTMCell": _seq(lambda L: L.RNN(L.LSTMCell(3, name="cell"), name="layer")),
    "GRUCell": _seq(
        lambda L: L.RNN(L.GRUCell(3, name="cell"), return_sequences=True, name="layer")
    ),
    "SimpleRNNCell": _seq(lambda L: L.RNN(L.SimpleRNNCell(3, name="cell"), name="layer")),
    "StackedRNNCells": _seq(
        # Two cells of one class: Keras stores them as lstm_cell, lstm_cell_1 (list order).
        lambda L: L.RNN(
            L.StackedRNNCells(
                [L.LSTMCell(3, name="a"), L.GRUCell(2, name="b"), L.LSTMCell(2, name="c")],
                name="cells",
            ),
            name="layer",
        )
    ),
    "Bidirectional": _seq(lambda L: L.Bidirectional(L.LSTM(3, name="lstm"), name="layer")),
    "TimeDistributed": Case(
        lambda L: L.TimeDistributed(L.Dense(2, name="dense"), name="layer"),
        (SEQ,),
        fewer=(3,),
        wider=(4, 5),
    ),
    "ConvLSTM1D": Case(
        lambda L: L.ConvLSTM1D(2, 2, name="layer"),
        ((3, 4, 2),),
        fewer=(4, 2),
        more=(3, 4, 4, 2),
        wider=(3, 4, 3),
    ),
    "ConvLSTM2D": Case(
        lambda L: L.ConvLSTM2D(2, 2, return_sequences=True, name="layer"),
        ((3, 4, 4, 2),),
        fewer=(3, 4, 2),
        more=(3, 4, 4, 4, 2),
        wider=(3, 4, 4, 3),
    ),
    "ConvLSTM3D": Case(
        lambda L: L.ConvLSTM3D(2, 2, name="layer"),
        ((2, 3, 3, 3, 1),),
        fewer=(2, 3, 3, 1),
        more=(2, 3, 3, 3, 3, 1),
        wider=(2, 3, 3, 3, 2),
    ),
    # -- core ----------------------------------------------------------------------------------
    "Dense": _any_rank(lambda L: L.Dense(2, name="layer"), wider=True),
    "Activation": _any_rank(lambda L: L.Activation("tanh", name="layer")),
    "Dropout": _any_rank(lambda L: L.Dropout(0.5, name="layer")),
    "Embedding": Case(
        lambda L: L.Embedding(7, 3, name="layer"), ((4,),), tokens=7, wider=None, more=None
    ),
    "Masking": _any_rank(lambda L: L.Masking(0.0, name="layer")),
    "Lambda": Case(
        lambda L: L.Lambda(double, name="layer"),
        (SEQ,),
        keras_import_refuses="Lambda layer holds Python code",
    ),
    "Flatten": Case(lambda L: L.Flatten(name="layer"), (SEQ,), fewer=None),
    "Reshape": Case(lambda L: L.Reshape((2, 6), name="layer"), (SEQ,)),
    "RepeatVector": Case(
        lambda L: L.RepeatVector(2, name="layer"), ((3,),), fewer=(), more=(4, 3), wider=None
    ),
    "Permute": Case(lambda L: L.Permute((2, 1), name="layer"), (SEQ,), fewer=(3,), more=(4, 3, 2)),
    "Cropping1D": _seq(lambda L: L.Cropping1D((1, 1), name="layer"), wider=False),
    "ZeroPadding1D": _seq(lambda L: L.ZeroPadding1D(1, name="layer"), wider=False),
    "UpSampling1D": _seq(lambda L: L.UpSampling1D(2, name="layer"), wider=False),
    # -- convolution and pooling -----------------------------------------------------------------
    "Conv1D": _seq(lambda L: L.Conv1D(4, 2, padding="causal", name="layer")),
    "Convolution1D": _seq(lambda L: L.Convolution1D(4, 2, name="layer")),
    "Conv2D": _image(lambda L: L.Conv2D(3, 2, padding="same", name="layer")),
    "Convolution2D": _image(lambda L: L.Convolution2D(3, 2, name="layer")),
    "Conv3D": _volume(lambda L: L.Conv3D(3, 2, name="layer")),
    "Convolution3D": _volume(lambda L: L.Convolution3D(3, 2, name="layer")),
    "MaxPooling1D": _seq(lambda L: L.MaxPooling1D(2, name="layer"), wider=False),
    "AveragePooling1D": _seq(
        lambda L: L.AveragePooling1D(2, padding="same", name="layer"), wider=False
    ),
    "MaxPooling2D": _image(lambda L: L.MaxPooling2D(2, name="layer"), wider=False),
    "AveragePooling2D": _image(lambda L: L.AveragePooling2D(2, name="layer"), wider=False),
    "MaxPooling3D": _volume(lambda L: L.MaxPooling3D(2, name="layer"), wider=False),
    "AveragePooling3D": _volume(lambda L: L.AveragePooling3D(2, name="layer"), wider=False),
    "GlobalMaxPooling1D": _seq(lambda L: L.GlobalMaxPooling1D(name="layer"), wider=False),
    "GlobalAveragePooling1D": _seq(lambda L: L.GlobalAveragePooling1D(name="layer"), wider=False),
    "GlobalMaxPooling2D": _image(lambda L: L.GlobalMaxPooling2D(name="layer"), wider=False),
    "GlobalAveragePooling2D": _image(lambda L: L.GlobalAveragePooling2D(name="layer"), wider=False),
    "GlobalMaxPooling3D": _volume(lambda L: L.GlobalMaxPooling3D(name="layer"), wider=False),
    "GlobalAveragePooling3D": _volume(
        lambda L: L.GlobalAveragePooling3D(name="layer"), wider=False
    ),
    # -- normalization, regularization, noise, activations ---------------------------------------
    "BatchNormalization": _any_rank(lambda L: L.BatchNormalization(name="layer"), wider=True),
    "LayerNormalization": _any_rank(lambda L: L.LayerNormalization(name="layer"), wider=True),
    "SpatialDropout1D": _seq(lambda L: L.SpatialDropout1D(0.5, name="layer"), wider=False),
    "GaussianNoise": _any_rank(lambda L: L.GaussianNoise(0.5, name="layer")),
    "GaussianDropout": _any_rank(lambda L: L.GaussianDropout(0.5, name="layer")),
    "ActivityRegularization": _any_rank(
        lambda L: L.ActivityRegularization(l1=0.01, l2=0.01, name="layer")
    ),
    "ReLU": _any_rank(lambda L: L.ReLU(max_value=1.0, negative_slope=0.1, name="layer")),
    "LeakyReLU": _any_rank(lambda L: L.LeakyReLU(negative_slope=0.2, name="layer")),
    "PReLU": _any_rank(lambda L: L.PReLU(name="layer"), wider=True),
    "ELU": _any_rank(lambda L: L.ELU(alpha=0.5, name="layer")),
    "Softmax": _any_rank(lambda L: L.Softmax(name="layer")),
    # -- merging and attention -----------------------------------------------------------------
    "Add": _pair(lambda L: L.Add(name="layer")),
    "Subtract": _pair(lambda L: L.Subtract(name="layer")),
    "Multiply": _pair(lambda L: L.Multiply(name="layer")),
    "Average": _pair(lambda L: L.Average(name="layer")),
    "Maximum": _pair(lambda L: L.Maximum(name="layer")),
    "Minimum": _pair(lambda L: L.Minimum(name="layer")),
    "Concatenate": _pair(lambda L: L.Concatenate(name="layer"), (SEQ, (4, 2))),
    "Dot": _pair(lambda L: L.Dot(axes=(2, 2), name="layer"), (SEQ, (5, 3)), fewer=(3,)),
    "Attention": _pair(
        lambda L: L.Attention(use_scale=True, name="layer"), (SEQ, (5, 3)), fewer=(3,)
    ),
    "AdditiveAttention": _pair(
        lambda L: L.AdditiveAttention(name="layer"), (SEQ, (5, 3)), fewer=(3,)
    ),
    "MultiHeadAttention": Case(
        lambda L: L.MultiHeadAttention(2, 2, name="layer"),
        (SEQ, (5, 2)),
        call="args",
        wider=(4, 4),
    ),
}

# Keras's short names are subclasses of ours (saved under the name written): the same cases.
for _short, _long in {
    "MaxPool1D": "MaxPooling1D",
    "MaxPool2D": "MaxPooling2D",
    "MaxPool3D": "MaxPooling3D",
    "AvgPool1D": "AveragePooling1D",
    "AvgPool2D": "AveragePooling2D",
    "AvgPool3D": "AveragePooling3D",
    "GlobalMaxPool1D": "GlobalMaxPooling1D",
    "GlobalMaxPool2D": "GlobalMaxPooling2D",
    "GlobalMaxPool3D": "GlobalMaxPooling3D",
    "GlobalAvgPool1D": "GlobalAveragePooling1D",
    "GlobalAvgPool2D": "GlobalAveragePooling2D",
    "GlobalAvgPool3D": "GlobalAveragePooling3D",
}.items():
    _case = CASES[_long]
    CASES[_short] = replace(
        _case, make=lambda L, make=_case.make, short=_short: _renamed(make, L, short)
    )


def _renamed(make: Callable[[Any], Any], module: Any, short: str) -> Any:
    """The layer `make` builds, under Keras's short class name with the same config."""
    layer = make(module)
    return getattr(module, short).from_config(layer.get_config())


def _options(make: Callable[[Any], Any], inputs: tuple[Shape, ...], call: str = "one") -> Case:
    """A layer with options other than the defaults (no bad-input checks: its class's case
    has them)."""
    return Case(make, inputs, call=call)


# Options a user reaches for, beyond each class's first case: "Class/what" keys.
CASES.update(
    {
        "Conv1D/dilated_same_groups_relu": _options(
            lambda L: L.Conv1D(
                3, 2, padding="same", dilation_rate=2, groups=3, activation="relu", name="layer"
            ),
            (SEQ,),
        ),
        "Conv2D/strided_rectangular_no_bias": _options(
            lambda L: L.Conv2D(2, (2, 3), strides=2, padding="same", use_bias=False, name="layer"),
            (IMAGE,),
        ),
        "MaxPooling2D/same_strided": _options(
            lambda L: L.MaxPooling2D((2, 3), strides=(1, 2), padding="same", name="layer"),
            (IMAGE,),
        ),
        # An even "same" padding: for an uneven one Keras's torch backend counts a repeated
        # edge step, we follow Keras's documented rule (AveragePooling1D's Keras differences).
        "AveragePooling1D/same": _options(
            lambda L: L.AveragePooling1D(3, strides=1, padding="same", name="layer"), (SEQ,)
        ),
        "GlobalAveragePooling1D/keepdims": _options(
            lambda L: L.GlobalAveragePooling1D(keepdims=True, name="layer"), (SEQ,)
        ),
        "UpSampling1D/three": _options(lambda L: L.UpSampling1D(3, name="layer"), (SEQ,)),
        "ZeroPadding1D/uneven": _options(lambda L: L.ZeroPadding1D((1, 2), name="layer"), (SEQ,)),
        "Cropping1D/end_only": _options(lambda L: L.Cropping1D((0, 2), name="layer"), (SEQ,)),
        "Reshape/inferred_axis": _options(lambda L: L.Reshape((-1, 2), name="layer"), (SEQ,)),
        "BatchNormalization/timesteps_axis_no_center": _options(
            lambda L: L.BatchNormalization(axis=1, center=False, epsilon=0.01, name="layer"),
            (SEQ,),
        ),
        "LayerNormalization/two_axes_no_scale": _options(
            lambda L: L.LayerNormalization(axis=[1, 2], scale=False, name="layer"), (SEQ,)
        ),
        "PReLU/shared_timesteps": _options(
            lambda L: L.PReLU(shared_axes=[1], name="layer"), (SEQ,)
        ),
        "Softmax/over_timesteps": _options(lambda L: L.Softmax(axis=1, name="layer"), (SEQ,)),
        "ReLU/threshold": _options(lambda L: L.ReLU(threshold=0.3, name="layer"), (SEQ,)),
        "GRU/reset_before_backwards": _options(
            lambda L: L.GRU(3, reset_after=False, go_backwards=True, name="layer"), (SEQ,)
        ),
        "Bidirectional/sum_of_sequences": _options(
            lambda L: L.Bidirectional(
                L.GRU(2, return_sequences=True, name="gru"), merge_mode="sum", name="layer"
            ),
            (SEQ,),
        ),
        "TimeDistributed/Conv2D": _options(
            lambda L: L.TimeDistributed(L.Conv2D(2, 2, name="conv"), name="layer"),
            ((3, 4, 4, 2),),
        ),
        "ConvLSTM2D/same_backwards": _options(
            lambda L: L.ConvLSTM2D(
                2, 3, padding="same", go_backwards=True, return_sequences=True, name="layer"
            ),
            ((3, 4, 4, 2),),
        ),
        "ConvLSTM1D/dilated": _options(
            lambda L: L.ConvLSTM1D(2, 2, dilation_rate=2, name="layer"), ((3, 5, 2),)
        ),
        "Concatenate/timesteps": _options(
            lambda L: L.Concatenate(axis=1, name="layer"), (SEQ, (2, 3)), call="list"
        ),
        "Dot/normalized_timesteps": _options(
            lambda L: L.Dot(axes=1, normalize=True, name="layer"), (SEQ, (4, 2)), call="list"
        ),
        "Attention/concat_scores_with_key": _options(
            lambda L: L.Attention(score_mode="concat", name="layer"),
            (SEQ, (5, 2), (5, 3)),
            call="list",
        ),
        "AdditiveAttention/no_scale": _options(
            lambda L: L.AdditiveAttention(use_scale=False, name="layer"),
            (SEQ, (5, 3)),
            call="list",
        ),
        "MultiHeadAttention/key_value_dim_output_shape": _options(
            lambda L: L.MultiHeadAttention(
                2, 2, value_dim=3, output_shape=5, use_bias=False, name="layer"
            ),
            (SEQ, (5, 2), (5, 4)),
            call="args",
        ),
    }
)
