"""unrolled: recurrent sequence models with exact Keras semantics on PyTorch's fused kernels."""

from unrolled.errors import ConfigError, InputTypeError, ShapeError, UnrolledError
from unrolled.layers import (
    GRU,
    LSTM,
    RNN,
    Cell,
    GRUCell,
    Layer,
    LSTMCell,
    SimpleRNN,
    SimpleRNNCell,
    StackedRNNCells,
)
from unrolled.layers.recurrent import Path

__version__ = "0.1.0"

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "Cell",
    "ConfigError",
    "GRUCell",
    "InputTypeError",
    "LSTMCell",
    "Layer",
    "Path",
    "ShapeError",
    "SimpleRNN",
    "SimpleRNNCell",
    "StackedRNNCells",
    "UnrolledError",
]
