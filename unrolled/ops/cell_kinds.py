"""The one home of what a cell kind is: gates, states, operators and layouts.

Every table that depends on the kind of a cell (gate order and names, state count, the
torch and ONNX operators, the numba kernels' code, the parameter formula) reads the
`CellKind` record here; a cell says which kind it is (`LSTMCell.kind is LSTM`).

Gate blocks are named in Keras's order, as they sit side by side in `kernel (features,
G * units)`. Orders elsewhere are given as the Keras block that goes in each position:

    kind        Keras blocks      torch            ONNX          Keras 1 files
    LSTM        i, f, c, o        i, f, g, o       i, o, f, c    i, c, f, o
    GRU         z, r, h           r, z, n          z, r, h       z, r, h
    SimpleRNN   h                 h                h             h
    ConvLSTM    i, f, c, o        (none)           (none)        i, f, c, o

A convolutional kind (ConvLSTM) keeps its gate blocks side by side on the last axis of
`kernel (*kernel_size, channels, G * filters)`; its parameter count has a window factor.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import torch


# eq=False: records compare and hash by identity (each is a singleton), which is fast
# enough to key per-call caches on.
@dataclass(frozen=True, eq=False)
class FusedOperator:
    """A torch operator that runs a whole sequence of one cell kind, and its one-step twin.

    `name` is torch's (`torch.lstm`, `torch.lstm_cell`); `kernel_code` is the cell's
    number in the numba kernels (`unrolled.compiled`).
    """

    name: str
    sequence: Callable[..., Any]
    step: Callable[..., Any]
    state_count: int
    kernel_code: int

    @property
    def paired_states(self) -> bool:
        """Whether torch takes the states as an `(h, c)` pair rather than one tensor."""
        return self.state_count == 2


@dataclass(frozen=True, eq=False)
class CellKind:
    """One kind of recurrent cell: everything that is not a weight or an option value.

    `gates`: the math's letter for each Keras gate block, in Keras's order; `gate_names`
    their names. `states`: the state names in Keras's order. `bias_rows`: 2 when the bias
    holds an input and a recurrent row (GRU `reset_after=True`). `torch_order`, `onnx_order`,
    `keras1_order`: the Keras block placed at each position of that layout. `fused`: the
    torch operator for each `activation` (gated kinds also need a sigmoid
    `recurrent_activation`); `unfused` says why a kind has none. `onnx_activations`: the
    cell attributes the ONNX operator's `activations` list takes, in order.
    `convolutional`: the kernels are convolution windows `(*kernel_size, in, G * units)`
    (ConvLSTM), not matrices; such a kind has neither a torch nor an ONNX operator.
    """

    name: str
    gates: tuple[str, ...]
    gate_names: tuple[str, ...]
    states: tuple[str, ...]
    bias_rows: int
    torch_order: tuple[int, ...]
    onnx_operator: str
    onnx_order: tuple[int, ...]
    onnx_activations: tuple[str, ...]
    keras1_order: tuple[int, ...]
    fused: Mapping[str, FusedOperator] = field(default_factory=dict)
    unfused: str = ""
    convolutional: bool = False

    @property
    def gate_count(self) -> int:
        return len(self.gates)

    @property
    def state_count(self) -> int:
        return len(self.states)

    @property
    def gated(self) -> bool:
        """Whether the cell has a `recurrent_activation` (LSTM and GRU; not SimpleRNN)."""
        return self.gate_count > 1

    def bias_shape(self, units: int) -> tuple[int, ...]:
        """Keras's bias shape: `(G * units,)`, or `(2, G * units)` with two bias rows."""
        width = self.gate_count * units
        return (width,) if self.bias_rows == 1 else (self.bias_rows, width)

    def parameter_count(
        self, features: int, units: int, use_bias: bool = True, window: int = 1
    ) -> int:
        """`G * (window * units * (features + units) + bias_rows * units)`, the Keras count.

        `window`: the number of taps of a convolutional kind's kernel (`prod(kernel_size)`),
        shared by its input and recurrent kernels; 1 for a matrix.
        """
        bias = self.bias_rows * units if use_bias else 0
        return self.gate_count * (window * units * (features + units) + bias)

    def fused_operator(self, activation: str | None, recurrent_activation: str | None) -> Any:
        """The torch operator for these activation names, or a string saying why there is none."""
        if not self.fused:
            return self.unfused
        if activation not in self.fused:
            computed = " or ".join(self.fused)
            return f"activation={activation!r}; the fused operator computes {computed}"
        if self.gated and recurrent_activation != "sigmoid":
            return f"recurrent_activation={recurrent_activation!r}; the fused operator computes sigmoid"
        return self.fused[activation]


def _operator(name: str, state_count: int, kernel_code: int) -> FusedOperator:
    return FusedOperator(
        name, getattr(torch, name), getattr(torch, f"{name}_cell"), state_count, kernel_code
    )


# The numba kernels' cell codes, one per fused operator.
_LSTM_OP = _operator("lstm", 2, 0)
_GRU_OP = _operator("gru", 1, 1)
_RNN_TANH_OP = _operator("rnn_tanh", 1, 2)
_RNN_RELU_OP = _operator("rnn_relu", 1, 3)

LSTM = CellKind(
    name="LSTM",
    gates=("i", "f", "g", "o"),
    gate_names=("input", "forget", "cell", "output"),
    states=("h", "c"),
    bias_rows=1,
    torch_order=(0, 1, 2, 3),
    onnx_operator="LSTM",
    onnx_order=(0, 3, 1, 2),
    onnx_activations=("recurrent_activation", "activation", "activation"),
    keras1_order=(0, 2, 1, 3),
    fused=MappingProxyType({"tanh": _LSTM_OP}),
)
# Keras 3's default GRU: the reset gate multiplies the recurrent candidate after its matmul
# (torch's and cuDNN's formula), with an input and a recurrent bias row.
GRU = CellKind(
    name="GRU",
    gates=("z", "r", "g"),
    gate_names=("update", "reset", "candidate"),
    states=("h",),
    bias_rows=2,
    torch_order=(1, 0, 2),
    onnx_operator="GRU",
    onnx_order=(0, 1, 2),
    onnx_activations=("recurrent_activation", "activation"),
    keras1_order=(0, 1, 2),
    fused=MappingProxyType({"tanh": _GRU_OP}),
)
# The original GRU: the reset gate multiplies h before the matmul; one bias row.
GRU_RESET_BEFORE = replace(
    GRU,
    bias_rows=1,
    fused=MappingProxyType({}),
    unfused="reset_after=False applies the reset gate before the recurrent matmul; "
    "torch.gru applies it after",
)
SIMPLE_RNN = CellKind(
    name="SimpleRNN",
    gates=("h",),
    gate_names=("hidden",),
    states=("h",),
    bias_rows=1,
    torch_order=(0,),
    onnx_operator="RNN",
    onnx_order=(0,),
    onnx_activations=("activation",),
    keras1_order=(0,),
    fused=MappingProxyType({"tanh": _RNN_TANH_OP, "relu": _RNN_RELU_OP}),
)

# ConvLSTM: LSTM's gates and states, computed by convolutions (the recurrent one always
# "same", stride 1, as Keras). Keras 2 files already held the gates side by side.
CONV_LSTM = replace(
    LSTM,
    name="ConvLSTM",
    onnx_operator="",
    onnx_order=(),
    onnx_activations=(),
    fused=MappingProxyType({}),
    unfused="ConvLSTM's gates are convolutions and torch has no fused convolutional LSTM "
    "operator: the step loop convolves the inputs of all timesteps at once (each step's under "
    "input dropout) and runs one recurrent convolution per step for all four gates",
    convolutional=True,
)

CELL_KINDS: tuple[CellKind, ...] = (LSTM, GRU, GRU_RESET_BEFORE, SIMPLE_RNN, CONV_LSTM)
FUSED_OPERATORS: tuple[FusedOperator, ...] = (_LSTM_OP, _GRU_OP, _RNN_TANH_OP, _RNN_RELU_OP)


def kind_of_layer(class_name: str) -> CellKind | None:
    """The kind a Keras layer or cell class name computes (`"LSTM"`, `"GRUCell"`), or None.

    GRU means Keras 3's `reset_after=True` here; ask the cell for its own kind when the
    option is known. `ConvLSTM1D`, `ConvLSTM2D`, `ConvLSTM3D` and `ConvLSTMCell` are ConvLSTM.
    """
    name = re.sub(r"[123]D$", "", class_name.removesuffix("Cell"))
    return next((kind for kind in CELL_KINDS if kind.name == name), None)
