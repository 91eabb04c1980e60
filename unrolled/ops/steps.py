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

from unrolled.ops.convolution import conv_channels_first, torch_conv_weight

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
    return _lstm_update(z, c_prev, activation, recurrent_activation)


def _lstm_update(
    z: Sequence[torch.Tensor],
    c_prev: torch.Tensor,
    activation: Activation,
    recurrent_activation: Activation,
) -> LSTMStep:
    """The LSTM's gates and states from the four gates' pre-activations `z` (i, f, c, o),
    for the dense and the convolutional LSTM alike."""
    i = recurrent_activation(z[0])
    f = recurrent_activation(z[1])
    g = activation(z[2])
    o = recurrent_activation(z[3])
    c = f * c_prev + i * g
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


# -- ConvLSTM: the LSTM step with convolutions for matmuls ----------------------------------
# The LSTM's record: gates i, f, g (candidate), o and the new states c, h, here each shaped
# like the state, in the inputs' layout: `(B, *spatial, filters)` channels last,
# `(B, filters, *spatial)` channels first.
ConvLSTMStep = LSTMStep


class ConvOptions(NamedTuple):
    """How the input convolution slides: Keras's `strides`, `padding`, `dilation_rate`.

    `padding` is "valid" or "same" (zeros so that `ceil(size / stride)` positions come out,
    the odd one after, as Keras and TensorFlow put it). The recurrent convolution is always
    "same" at stride 1 without dilation, as Keras's.
    """

    strides: tuple[int, ...]
    padding: str
    dilation_rate: tuple[int, ...]
    channels_last: bool = True


def _convolve(
    x: torch.Tensor, weight: torch.Tensor, options: ConvOptions, bias: torch.Tensor | None
) -> torch.Tensor:
    """`x (B, in, *spatial)` convolved with torch's `weight (out, in, *window)`: `(B, out, *spatial')`."""
    return conv_channels_first(
        x, weight, bias, options.strides, options.dilation_rate, options.padding
    )


def conv_lstm_inputs(
    x: torch.Tensor, kernel: torch.Tensor, bias: torch.Tensor | None, options: ConvOptions
) -> torch.Tensor:
    """The input side `x * kernel + bias` of every step at once: one batched convolution.

    `x (B, T, *frame)` to `(B, T, 4 * filters, *spatial')` (channels first, as torch
    convolves), for `conv_lstm_step_from_inputs`; the same numbers as step by step.
    """
    frames = x.reshape(x.shape[0] * x.shape[1], *x.shape[2:])  # (B*T, *frame)
    first = frames.movedim(-1, 1) if options.channels_last else frames
    z = _convolve(first, torch_conv_weight(kernel), options, bias)  # (B*T, 4F, *spatial')
    return z.reshape(x.shape[0], x.shape[1], *z.shape[1:])


def conv_lstm_step(
    xs: Sequence[torch.Tensor],
    hs: Sequence[torch.Tensor],
    c_prev: torch.Tensor,
    kernel: torch.Tensor,
    recurrent_kernel: torch.Tensor,
    bias: torch.Tensor | None,
    activation: Activation,
    recurrent_activation: Activation,
    options: ConvOptions,
) -> ConvLSTMStep:
    """LSTM's step with `x * kernel` and `h * recurrent_kernel` as convolutions.

    `xs`: `[x]` or one input per gate (dropout), each `(B, *spatial, in)` (channels last);
    `hs` likewise `[h_prev]` or one per gate, `(B, *spatial', filters)`; `c_prev` as `h`.
    Weights in Keras's layout: `kernel (*kernel_size, in, 4 * filters)`, `recurrent_kernel
    (*kernel_size, filters, 4 * filters)`, `bias (4 * filters,)`, gates i, f, c, o. With one
    input and one `h`, all four gates come from one convolution per side.
    """
    first = (lambda t: t.movedim(-1, 1)) if options.channels_last else (lambda t: t)
    w_x = torch_conv_weight(kernel)  # (4F, in, *kernel_size)
    if len(xs) == 1:
        z_x = _convolve(first(xs[0]), w_x, options, bias)  # (B, 4F, *spatial')
    else:
        biases = bias.chunk(4) if bias is not None else [None] * 4
        z_x = torch.cat(
            [
                _convolve(first(x_gate), w_x_gate, options, b_gate)
                for x_gate, w_x_gate, b_gate in zip(xs, w_x.chunk(4), biases)
            ],
            dim=1,
        )  # (B, 4F, *spatial')
    return conv_lstm_step_from_inputs(
        z_x, hs, c_prev, recurrent_kernel, activation, recurrent_activation, options.channels_last
    )


def conv_lstm_step_from_inputs(
    z_x: torch.Tensor,
    hs: Sequence[torch.Tensor],
    c_prev: torch.Tensor,
    recurrent_kernel: torch.Tensor,
    activation: Activation,
    recurrent_activation: Activation,
    channels_last: bool = True,
) -> ConvLSTMStep:
    """The step from its input side `z_x (B, 4 * filters, *spatial')`, already convolved.

    The recurrent convolution is "same" at stride 1 without dilation, as Keras's; `hs` is
    `[h_prev]` (one convolution for the four gates) or one `h_prev` per gate.
    """
    rank = recurrent_kernel.dim() - 2
    recurrent = ConvOptions((1,) * rank, "same", (1,) * rank)
    # torch convolves channels first; a channels-last tensor becomes that by a view.
    first = (lambda t: t.movedim(-1, 1)) if channels_last else (lambda t: t)
    w_h = torch_conv_weight(recurrent_kernel)  # (4F, F, *kernel_size)
    if len(hs) == 1:
        z = (z_x + _convolve(first(hs[0]), w_h, recurrent, None)).chunk(4, dim=1)
    else:
        z = [
            z_gate + _convolve(first(h_gate), w_h_gate, recurrent, None)
            for z_gate, h_gate, w_h_gate in zip(z_x.chunk(4, dim=1), hs, w_h.chunk(4))
        ]  # 4 x (B, F, *spatial')
    step = _lstm_update(z, first(c_prev), activation, recurrent_activation)
    back = (lambda t: t.movedim(1, -1)) if channels_last else (lambda t: t)
    return ConvLSTMStep(*(back(t) for t in step))
