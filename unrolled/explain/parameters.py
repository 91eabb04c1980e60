"""Per-gate parameter counts of a recurrent layer: the answer to "16 blocks of 1 cell or 1 block of 16 cells?".

One LSTM layer is one block of `units` cells. Each of its 4 gates has a slice of the kernel
`(features, units)`, of the recurrent kernel `(units, units)` and of the bias `(units,)`, so
the layer has `4 * (units * (features + units) + units)` parameters. A GRU has 3 gates, and
with `reset_after=True` (Keras 3's default) two biases per gate:
`3 * (units * (features + units) + 2 * units)`. A SimpleRNN has no gates:
`units * (features + units) + units`. A ConvLSTM's gates are convolution windows: each weight
above is repeated once per tap of its `kernel_size` window, `4 * (kh * kw * filters *
(channels + filters) + filters)` for ConvLSTM2D.

Example:
    >>> layer = LSTM(16)
    >>> layer.build((None, 30, 3))
    >>> layer_gates(layer)[0].numbers
    '4 * (16 * (3 + 16) + 16) = 1280'
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

from unrolled.explain.walk import is_model, recurrent_layers
from unrolled.layers.bidirectional import Bidirectional
from unrolled.layers.cell import KernelCell
from unrolled.layers.stacked import StackedRNNCells


class GateParameters(NamedTuple):
    """One gate's slices: kernel `(features, units)`, recurrent kernel `(units, units)`, bias count.

    A convolutional cell's slices keep the window: `(*kernel_size, channels, filters)` and
    `(*kernel_size, filters, filters)`. `columns` is the gate's slice of the kernel's,
    recurrent kernel's and bias's last axis (Keras keeps the gates side by side); `layer`
    names the layer it belongs to.
    """

    gate: str
    kernel: tuple[int, ...]
    recurrent_kernel: tuple[int, ...]
    bias: int
    columns: tuple[int, int] = (0, 0)
    layer: str = ""

    @property
    def total(self) -> int:
        return math.prod(self.kernel) + math.prod(self.recurrent_kernel) + self.bias

    def slices(self, bias_rows: int = 1) -> str:
        """`kernel[:, 0:16] 3x16=48 + recurrent_kernel[:, 0:16] 16x16=256 + bias[0:16] 16 = 320`."""
        a, b = self.columns
        axes = ":, " if len(self.kernel) == 2 else "..., "  # a window's axes come first
        kernel, recurrent = dims(self.kernel), dims(self.recurrent_kernel)
        text = (
            f"kernel[{axes}{a}:{b}] {kernel}={math.prod(self.kernel)} + "
            f"recurrent_kernel[{axes}{a}:{b}] {recurrent}={math.prod(self.recurrent_kernel)}"
        )
        if self.bias:
            where = f"bias[:, {a}:{b}]" if bias_rows == 2 else f"bias[{a}:{b}]"
            text += f" + {where} {self.bias}"
        return f"{text} = {self.total}"


@dataclass(frozen=True)
class LayerGates:
    """The gates of one recurrent layer (one direction of a `Bidirectional`, one stacked cell)."""

    layer: str  # e.g. "lstm", "bidirectional/forward_lstm"
    kind: str  # "LSTM", "GRU" or "SimpleRNN"
    units: int
    features: int
    bias_rows: int  # 0 (use_bias=False), 1, or 2 (GRU reset_after: input and recurrent bias)
    gates: tuple[GateParameters, ...]
    window: tuple[int, ...] = ()  # a convolutional cell's kernel_size; () for matrices

    @property
    def total(self) -> int:
        return sum(gate.total for gate in self.gates)

    @property
    def formula(self) -> str:
        """The closed form in words, e.g. `4 * (units * (features + units) + units)`."""
        return self._closed_form(("k1", "k2", "k3")[: len(self.window)], "units", "features")

    @property
    def numbers(self) -> str:
        """The closed form with this layer's numbers, e.g. `4 * (16 * (3 + 16) + 16) = 1280`."""
        return f"{self._closed_form(self.window, self.units, self.features)} = {self.total}"

    def _closed_form(self, taps: tuple[Any, ...], units: Any, features: Any) -> str:
        # The window's taps, then each gate's weights and biases, times the gates.
        bias = {0: "", 1: f" + {units}", 2: f" + 2 * {units}"}[self.bias_rows]
        inner = "".join(f"{k} * " for k in taps) + f"{units} * ({features} + {units}){bias}"
        return inner if len(self.gates) == 1 else f"{len(self.gates)} * ({inner})"

    def sentence(self, timesteps: int | None = None) -> str:
        """One block of `units` cells, in words, with this layer's numbers."""
        u, f = self.units, self.features
        names = ", ".join(gate.gate for gate in self.gates)
        biases = {
            0: "no bias",
            1: "1 bias",
            2: "2 biases (input and recurrent, reset_after=True)",
        }[self.bias_rows]
        if self.window:
            return (
                f"{self.layer} ({self.kind}, filters={u}) is one block of {u} cells at every "
                f"position of the frame: each reads a {dims(self.window)} window of the input "
                f"({f} channel{'' if f == 1 else 's'}) and of the previous output h_(t-1) ({u} "
                f"channels). Each cell has {len(self.gates)} gates ({names}), each with "
                f"{dims(self.window)} x ({f} + {u}) weights and {biases}, shared by every "
                f"position, so the layer has {self.numbers} parameters."
            )
        if len(self.gates) == 1:
            each = f"Each cell has no gates: one activation of {f} + {u} weights and {biases}"
        else:
            each = (
                f"Each cell has {len(self.gates)} gates ({names}), each with {f} + {u} weights "
                f"and {biases}"
            )
        times = f"{timesteps} times, " if timesteps else ""
        return (
            f"{self.layer} ({self.kind}, units={u}) is one block of {u} cells, not {u} blocks "
            f"of 1 cell: all {u} cells read the same input x_t ({f} feature{'' if f == 1 else 's'}) and the whole "
            f"previous output h_(t-1) ({u} values). {each}, so the layer has {self.numbers} "
            f"parameters. The block runs once per timestep ({times}with the same weights): "
            "unrolling repeats it, it does not add blocks."
        )


def gate_parameters(model_or_layer: Any) -> list[GateParameters]:
    """The gates of a built cell, recurrent layer, `Bidirectional` or whole model.

    Each gate's kernel, recurrent kernel and bias slice, layer after layer (the forward
    layer of a `Bidirectional` before its backward layer); `[]` for anything unbuilt or
    without recurrent cells.
    """
    return [gate for layer in layer_gates(model_or_layer) for gate in layer.gates]


def layer_gates(model_or_layer: Any) -> list[LayerGates]:
    """The gates of each recurrent layer in a model (or of one layer or cell), grouped by layer."""
    if isinstance(model_or_layer, KernelCell):
        found = _cell_gates(model_or_layer, getattr(model_or_layer, "name", ""))
        return [found] if found else []
    if isinstance(model_or_layer, Bidirectional) or is_model(model_or_layer):
        layers = list(recurrent_layers(model_or_layer))
    else:
        layers = [(getattr(model_or_layer, "name", ""), model_or_layer)]
    grouped = []
    for name, layer in layers:
        cell = getattr(layer, "cell", None)
        cells = (
            [(f"{name}/cell_{i}", c) for i, c in enumerate(cell._all_cells)]
            if isinstance(cell, StackedRNNCells)
            else [(name, cell)]
        )
        for cell_name, each in cells:
            found = _cell_gates(each, cell_name)
            if found:
                grouped.append(found)
    return grouped


def formula(cell: Any) -> str:
    """The closed form of the layer's parameter count, with its numbers, e.g. `4 * (4 * (1 + 4) + 4) = 96`."""
    found = layer_gates(cell)
    return found[0].numbers if found else ""


def dims(shape: tuple[int, ...]) -> str:
    """`3x2x16`: a shape as the breakdown writes it."""
    return "x".join(str(d) for d in shape)


def _cell_gates(cell: Any, name: str) -> LayerGates | None:
    if not isinstance(cell, KernelCell) or not cell.built:
        return None
    # A convolutional kind's kernel is (*kernel_size, features, G * units).
    window = tuple(int(k) for k in cell.kernel.shape[:-2]) if cell.kind.convolutional else ()
    units, features = int(cell.units), int(cell.kernel.shape[-2])
    bias_rows = 0 if cell.bias is None else cell.kind.bias_rows
    gates = tuple(
        GateParameters(
            gate,
            (*window, features, units),
            (*window, units, units),
            bias_rows * units,
            (index * units, (index + 1) * units),
            name,
        )
        for index, gate in enumerate(cell.kind.gate_names)
    )
    return LayerGates(name, cell.kind.name, units, features, bias_rows, gates, window)
