"""LSTM: the cell math (gates i, f, c, o, as Keras orders them) and the layer."""

from __future__ import annotations

from typing import Any

import torch

from unrolled import initializers
from unrolled.layers.cell import GatedCell
from unrolled.layers.recurrent import RNN, split_layer_kwargs
from unrolled.ops.weights import lstm_fused_params


class LSTMCell(GatedCell):
    """One LSTM step with Keras's weights and gate order.

    Weights: `kernel (features, 4 * units)`, `recurrent_kernel (units, 4 * units)`,
    `bias (4 * units,)`, each holding the input, forget, cell and output gates side by
    side. `unit_forget_bias=True` starts the forget-gate bias at one.

    Shapes:
        inputs `(samples, features)`; states `[h (samples, units), c (samples, units)]`.
    """

    gates = 4
    fused_kind = "lstm"

    def __init__(self, units: int, unit_forget_bias: bool = True, **kwargs: Any) -> None:
        super().__init__(units, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.state_size = [self.units, self.units]

    def _bias_initial_value(self) -> Any:
        if not self.unit_forget_bias:
            return self.bias_initializer
        init = initializers.get(self.bias_initializer, "bias_initializer")

        def forget_gate_ones(shape: Any) -> torch.Tensor:
            u = self.units
            draw = initializers.draw
            return torch.cat([draw(init, (u,)), torch.ones(u), draw(init, (2 * u,))])

        return forget_gate_ones

    def call(
        self, inputs: torch.Tensor, states: list[torch.Tensor], training: bool = False
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        h_prev, c_prev = states
        # Keras uses one input mask unless recurrent dropout asks for one per gate.
        per_gate = self.recurrent_dropout > 0
        x_masks = self.input_dropout_masks(inputs, 4 if per_gate else 1, training)
        h_masks = self.recurrent_dropout_masks(h_prev, 4, training)
        if h_masks is None and (x_masks is None or len(x_masks) == 1):
            # One mask (or none) for every gate: one matmul per side, as Keras's implementation 2.
            x = inputs if x_masks is None else inputs * x_masks[0]
            z_all = x @ self.kernel + h_prev @ self.recurrent_kernel  # (B, 4U)
            z = (z_all if self.bias is None else z_all + self.bias).chunk(4, dim=1)
        else:
            z = self._per_gate_preactivations(inputs, h_prev, x_masks, h_masks)
        i = self.recurrent_activation(z[0])
        f = self.recurrent_activation(z[1])
        c = f * c_prev + i * self.activation(z[2])
        o = self.recurrent_activation(z[3])
        h = o * self.activation(c)
        return h, [h, c]

    def _per_gate_preactivations(
        self,
        inputs: torch.Tensor,
        h_prev: torch.Tensor,
        x_masks: list[torch.Tensor] | None,
        h_masks: list[torch.Tensor] | None,
    ) -> list[torch.Tensor]:
        # Recurrent dropout draws a mask per gate (Keras's implementation 1).
        kernels = self.kernel.chunk(4, dim=1)  # 4 x (F, U)
        recurrent_kernels = self.recurrent_kernel.chunk(4, dim=1)  # 4 x (U, U)
        biases = self.bias.chunk(4) if self.bias is not None else [None] * 4
        z = []
        for gate in range(4):
            x = inputs if x_masks is None else inputs * x_masks[gate % len(x_masks)]
            h = h_prev if h_masks is None else h_prev * h_masks[gate]
            z_gate = x @ kernels[gate] + h @ recurrent_kernels[gate]  # (B, U)
            z.append(z_gate if biases[gate] is None else z_gate + biases[gate])
        return z

    def fused_params(self) -> list[torch.Tensor]:
        return self._transposed_params(lstm_fused_params)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}


class LSTM(RNN):
    """Long Short-Term Memory layer, Keras 3 arguments and numbers, on `torch.lstm`.

    Args:
        units: size of the output and of each state (the number of "cells" in one block).
        activation, recurrent_activation, use_bias, *_initializer, unit_forget_bias,
        *_regularizer, *_constraint, dropout, recurrent_dropout, seed: as `LSTMCell`.
        return_sequences, return_state, go_backwards, stateful, unroll,
        zero_output_for_mask, use_cudnn: as `RNN`.

    Shapes:
        inputs `(samples, timesteps, features)`; output `(samples, units)`, or
        `(samples, timesteps, units)` with `return_sequences=True`; with
        `return_state=True` the tuple `(output, h, c)`.

    Example:
        >>> layer = LSTM(4, return_sequences=True)
        >>> layer(torch.zeros(2, 3, 1)).shape
        torch.Size([2, 3, 4])
    """

    def __init__(self, units: int, **kwargs: Any) -> None:
        cell_kwargs, layer_kwargs = split_layer_kwargs(LSTMCell, kwargs)
        super().__init__(LSTMCell(units, **cell_kwargs), **layer_kwargs)
