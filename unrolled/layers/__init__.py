"""Keras-semantics layers, each a `torch.nn.Module`."""

# Keras 2's module paths (`keras.layers.wrappers.TimeDistributed`, `keras.layers.merge.add`).
from unrolled.layers import merge, wrappers  # noqa: F401
from unrolled.layers.base import Layer
from unrolled.layers.bidirectional import Bidirectional
from unrolled.layers.cell import Cell
from unrolled.layers.convolutional import Conv1D, Convolution1D
from unrolled.layers.core import Activation, Dense
from unrolled.layers.cropping import Cropping1D
from unrolled.layers.dropout import Dropout
from unrolled.layers.embeddings import Embedding
from unrolled.layers.gru import GRU, GRUCell
from unrolled.layers.input_layer import Input, InputLayer
from unrolled.layers.lambda_layer import Lambda
from unrolled.layers.lstm import LSTM, LSTMCell
from unrolled.layers.masking import Masking
from unrolled.layers.merging import (
    Add,
    Average,
    Concatenate,
    Multiply,
    Subtract,
    add,
    average,
    concatenate,
    multiply,
    subtract,
)
from unrolled.layers.pooling import (
    AveragePooling1D,
    GlobalAveragePooling1D,
    GlobalMaxPooling1D,
    MaxPooling1D,
)
from unrolled.layers.recurrent import RNN
from unrolled.layers.reshaping import Flatten, RepeatVector, Reshape
from unrolled.layers.simple_rnn import SimpleRNN, SimpleRNNCell
from unrolled.layers.stacked import StackedRNNCells
from unrolled.layers.time_distributed import TimeDistributed

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "Cell",
    "GRUCell",
    "Input",
    "InputLayer",
    "LSTMCell",
    "Layer",
    "SimpleRNN",
    "SimpleRNNCell",
    "StackedRNNCells",
    "Activation",
    "Add",
    "Average",
    "Bidirectional",
    "Concatenate",
    "Dense",
    "Dropout",
    "Embedding",
    "Flatten",
    "Lambda",
    "Masking",
    "Multiply",
    "RepeatVector",
    "Cropping1D",
    "Conv1D",
    "Convolution1D",
    "MaxPooling1D",
    "AveragePooling1D",
    "GlobalMaxPooling1D",
    "GlobalAveragePooling1D",
    "Reshape",
    "Subtract",
    "TimeDistributed",
    "add",
    "average",
    "concatenate",
    "multiply",
    "subtract",
]
