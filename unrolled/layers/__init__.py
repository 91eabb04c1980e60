"""Keras-semantics layers, each a `torch.nn.Module`."""

# Keras 2's module paths (`keras.layers.wrappers.TimeDistributed`, `keras.layers.merge.add`).
from unrolled.layers import merge, wrappers  # noqa: F401
from unrolled.layers.activity_regularization import ActivityRegularization
from unrolled.layers.advanced_activations import ELU, LeakyReLU, PReLU, ReLU, Softmax
from unrolled.layers.attention import AdditiveAttention, Attention
from unrolled.layers.base import Layer
from unrolled.layers.bidirectional import Bidirectional
from unrolled.layers.cell import Cell
from unrolled.layers.convolutional import (
    Conv1D,
    Conv2D,
    Conv3D,
    Convolution1D,
    Convolution2D,
    Convolution3D,
)
from unrolled.layers.convolutional_recurrent import ConvLSTM1D, ConvLSTM2D, ConvLSTM3D
from unrolled.layers.core import Activation, Dense
from unrolled.layers.cropping import Cropping1D
from unrolled.layers.dropout import Dropout, SpatialDropout1D
from unrolled.layers.embeddings import Embedding
from unrolled.layers.gru import GRU, GRUCell
from unrolled.layers.input_layer import Input, InputLayer
from unrolled.layers.lambda_layer import Lambda
from unrolled.layers.lstm import LSTM, LSTMCell
from unrolled.layers.masking import Masking
from unrolled.layers.merge import Merge
from unrolled.layers.merging import (
    Add,
    Average,
    Concatenate,
    Dot,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
    add,
    average,
    concatenate,
    dot,
    maximum,
    minimum,
    multiply,
    subtract,
)
from unrolled.layers.multi_head_attention import MultiHeadAttention
from unrolled.layers.noise import GaussianDropout, GaussianNoise
from unrolled.layers.normalization import BatchNormalization, LayerNormalization
from unrolled.layers.padding_upsampling import UpSampling1D, ZeroPadding1D
from unrolled.layers.pooling import (
    AveragePooling1D,
    AveragePooling2D,
    AveragePooling3D,
    AvgPool1D,
    AvgPool2D,
    AvgPool3D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalAveragePooling3D,
    GlobalAvgPool1D,
    GlobalAvgPool2D,
    GlobalAvgPool3D,
    GlobalMaxPool1D,
    GlobalMaxPool2D,
    GlobalMaxPool3D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    GlobalMaxPooling3D,
    MaxPool1D,
    MaxPool2D,
    MaxPool3D,
    MaxPooling1D,
    MaxPooling2D,
    MaxPooling3D,
)
from unrolled.layers.recurrent import RNN
from unrolled.layers.reshaping import Flatten, Permute, RepeatVector, Reshape
from unrolled.layers.simple_rnn import SimpleRNN, SimpleRNNCell
from unrolled.layers.stacked import StackedRNNCells
from unrolled.layers.time_distributed import TimeDistributed

__all__ = [
    "AdditiveAttention",
    "Attention",
    "Dot",
    "Maximum",
    "Merge",
    "Minimum",
    "MultiHeadAttention",
    "Permute",
    "dot",
    "maximum",
    "minimum",
    "ActivityRegularization",
    "BatchNormalization",
    "ELU",
    "GaussianDropout",
    "GaussianNoise",
    "LayerNormalization",
    "LeakyReLU",
    "PReLU",
    "ReLU",
    "Softmax",
    "SpatialDropout1D",
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
    "ConvLSTM1D",
    "ConvLSTM2D",
    "ConvLSTM3D",
    "Conv2D",
    "Conv3D",
    "Convolution1D",
    "Convolution2D",
    "Convolution3D",
    "MaxPooling1D",
    "MaxPooling2D",
    "MaxPooling3D",
    "AveragePooling1D",
    "AveragePooling2D",
    "AveragePooling3D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "GlobalMaxPooling3D",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalAveragePooling3D",
    "AvgPool1D",
    "AvgPool2D",
    "AvgPool3D",
    "GlobalAvgPool1D",
    "GlobalAvgPool2D",
    "GlobalAvgPool3D",
    "GlobalMaxPool1D",
    "GlobalMaxPool2D",
    "GlobalMaxPool3D",
    "MaxPool1D",
    "MaxPool2D",
    "MaxPool3D",
    "UpSampling1D",
    "ZeroPadding1D",
    "Reshape",
    "Subtract",
    "TimeDistributed",
    "add",
    "average",
    "concatenate",
    "multiply",
    "subtract",
]
