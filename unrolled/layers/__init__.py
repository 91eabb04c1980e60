"""Keras-semantics layers, each a `torch.nn.Module`."""

from unrolled.layers.base import Layer
from unrolled.layers.cell import Cell
from unrolled.layers.gru import GRU, GRUCell
from unrolled.layers.input_layer import Input, InputLayer
from unrolled.layers.lstm import LSTM, LSTMCell
from unrolled.layers.recurrent import RNN
from unrolled.layers.simple_rnn import SimpleRNN, SimpleRNNCell
from unrolled.layers.stacked import StackedRNNCells

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
]
