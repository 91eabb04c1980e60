"""Per-gate parameter counts of a recurrent layer: the answer to "16 blocks of 1 cell or 1 block of 16 cells?".

One LSTM layer is one block of `units` cells. Each of its 4 gates has a slice of the kernel
`(features, units)`, of the recurrent kernel `(units, units)` and of the bias `(units,)`, so
the layer has `4 * (units * (features + units) + units)` parameters.
"""

from __future__ import annotations

from typing import Any, NamedTuple

GATE_NAMES = {
    "LSTMCell": ["input", "forget", "cell", "output"],
    "GRUCell": ["update", "reset", "candidate"],
    "SimpleRNNCell": ["hidden"],
}


class GateParameters(NamedTuple):
    """One gate's slices: kernel `(features, units)`, recurrent kernel `(units, units)`, bias count."""

    gate: str
    kernel: tuple[int, int]
    recurrent_kernel: tuple[int, int]
    bias: int

    @property
    def total(self) -> int:
        return (
            self.kernel[0] * self.kernel[1]
            + self.recurrent_kernel[0] * self.recurrent_kernel[1]
            + self.bias
        )


def gate_parameters(cell: Any) -> list[GateParameters]:
    """The gates of a built LSTM/GRU/SimpleRNN cell (or layer) with their parameter slices."""
    cell = getattr(cell, "cell", cell)
    names = GATE_NAMES.get(type(cell).__name__)
    if names is None or not getattr(cell, "built", False):
        return []
    units, features = cell.units, cell.kernel.shape[0]
    bias_rows = 0 if cell.bias is None else (cell.bias.shape[0] if cell.bias.dim() == 2 else 1)
    return [
        GateParameters(name, (features, units), (units, units), bias_rows * units) for name in names
    ]


def formula(cell: Any) -> str:
    """The closed form of the layer's parameter count, with its numbers, e.g. `4 * (4 * (1 + 4) + 4) = 96`."""
    cell = getattr(cell, "cell", cell)
    gates = gate_parameters(cell)
    if not gates:
        return ""
    units, features = cell.units, gates[0].kernel[0]
    bias = gates[0].bias
    bias_text = (
        "" if bias == 0 else (f" + {units}" if bias == units else f" + {bias // units} * {units}")
    )
    total = sum(g.total for g in gates)
    return f"{len(gates)} * ({units} * ({features} + {units}){bias_text}) = {total}"
