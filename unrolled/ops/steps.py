"""One step of each cell kind as a pure function, returning every gate and the new states.

The cells' `call`, `explain.gate_activations` and the step loop all run these. Weights are
in Keras's layout (`kernel (F, G*U)`, `recurrent_kernel (U, G*U)`, gates side by side in
the kind's order, `ops.cell_kinds`).

Dropout enters as the inputs: `xs` is `[x]` (one projection for every gate) or one
`(B, F)` input per gate, and `hs` likewise `[h_prev]` or one `(B, U)` per gate (Keras's
implementation 2 and 1). With one of each, every gate comes from one matmul per side.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch

Activation = Callable[[torch.Tensor], torch.Tensor]


class LSTMStep(NamedTuple):
    """Gates i, f, g (candidate), o and the new states c, h: each `(B, U)`."""

    i: torch.Tensor
    f: torch.Tensor
    g: torch.Tensor
    o: torch.Tensor
    c: torch.Tensor
    h: torch.Tensor


class GRUStep(NamedTuple):
    """Gates z (update), r (reset), g (candidate) and the new state h: each `(B, U)`."""

    z: torch.Tensor
    r: torch.Tensor
    g: torch.Tensor
    h: torch.Tensor


class SimpleRNNStep(NamedTuple):
    """The new state h `(B, U)`."""

    h: torch.Tensor


def _preactivations(
    xs: Sequence[torch.Tensor],
    hs: Sequence[torch.Tensor],
    kernel: torch.Tensor,
    recurrent_kernel: torch.Tensor,
    bias: torch.Tensor | None,
    gates: int,
) -> Sequence[torch.Tensor]:
    """`x @ kernel + h @ recurrent_kernel + bias`, split into `gates` blocks of `(B, U)`."""
    if len(xs) == 1 and len(hs) == 1:  # one matmul per side
        z = xs[0] @ kernel + hs[0] @ recurrent_kernel  # (B, G*U)
        return (z if bias is None else z + bias).chunk(gates, dim=1)
    kernels = kernel.chunk(gates, dim=1)  # G x (F, U)
    recurrent_kernels = recurrent_kernel.chunk(gates, dim=1)  # G x (U, U)
    biases = bias.chunk(gates) if bias is not None else [None] * gates
    z = []
    for gate in range(gates):
        z_gate = xs[gate % len(xs)] @ kernels[gate] + hs[gate % len(hs)] @ recurrent_kernels[gate]
        z.append(z_gate if biases[gate] is None else z_gate + biases[gate])
    return z


def lstm_step(
    xs: Sequence[torch.Tensor],
    hs: Sequence[torch.Tensor],
    c_prev: torch.Tensor,
    kernel: torch.Tensor,
    recurrent_kernel: torch.Tensor,
    bias: torch.Tensor | None,
    activation: Activation,
    recurrent_activation: Activation,
) -> LSTMStep:
    """`c = f * c_prev + i * g`, `h = o * activation(c)`, gates in Keras's order i, f, c, o."""
    z = _preactivations(xs, hs, kernel, recurrent_kernel, bias, 4)
    i = recurrent_activation(z[0])
    f = recurrent_activation(z[1])
    g = activation(z[2])
    c = f * c_prev + i * g
    o = recurrent_activation(z[3])
    return LSTMStep(i, f, g, o, c, o * activation(c))


def gru_step(
    xs: Sequence[torch.Tensor],
    hs: Sequence[torch.Tensor],
    h_prev: torch.Tensor,
    kernel: torch.Tensor,
    recurrent_kernel: torch.Tensor,
    bias: torch.Tensor | None,
    reset_after: bool,
    activation: Activation,
    recurrent_activation: Activation,
) -> GRUStep:
    """`h = z * h_prev + (1 - z) * g`, gates in Keras's order z, r, h.

    `reset_after=True`: `g = activation(x W_h + r * (h R_h + b_rh))` with bias rows (input,
    recurrent); False: `g = activation(x W_h + (r * h) R_h)` with one bias row.
    """
    u = recurrent_kernel.shape[0]
    if bias is None:
        input_bias = recurrent_bias = None
    elif reset_after:
        input_bias, recurrent_bias = bias[0], bias[1]
    else:
        input_bias, recurrent_bias = bias, None
    x_z, x_r, x_h = (
        _project(xs[gate % len(xs)], kernel, gate, u, input_bias) for gate in range(3)
    )  # (B, U) each
    h_z, h_r, h_h = (hs[gate % len(hs)] for gate in range(3))
    z = recurrent_activation(x_z + _project(h_z, recurrent_kernel, 0, u, recurrent_bias))
    r = recurrent_activation(x_r + _project(h_r, recurrent_kernel, 1, u, recurrent_bias))
    if reset_after:
        recurrent_h = r * _project(h_h, recurrent_kernel, 2, u, recurrent_bias)
    else:
        recurrent_h = (r * h_h) @ recurrent_kernel[:, 2 * u :]
    g = activation(x_h + recurrent_h)
    return GRUStep(z, r, g, z * h_prev + (1 - z) * g)


def _project(
    x: torch.Tensor, weight: torch.Tensor, gate: int, units: int, bias: torch.Tensor | None
) -> torch.Tensor:
    """`x @ weight[:, block] (+ bias[block])` for one gate block: `(B, U)`."""
    block = slice(gate * units, (gate + 1) * units)
    projected = x @ weight[:, block]
    return projected if bias is None else projected + bias[block]


def simple_rnn_step(
    xs: Sequence[torch.Tensor],
    hs: Sequence[torch.Tensor],
    kernel: torch.Tensor,
    recurrent_kernel: torch.Tensor,
    bias: torch.Tensor | None,
    activation: Activation,
) -> SimpleRNNStep:
    """`h = activation(x @ kernel + bias + h_prev @ recurrent_kernel)`."""
    z = xs[0] @ kernel  # (B, U)
    if bias is not None:
        z = z + bias
    return SimpleRNNStep(activation(z + hs[0] @ recurrent_kernel))
