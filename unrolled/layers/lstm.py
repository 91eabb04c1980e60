"""LSTM: the cell math (gates i, f, c, o, as Keras orders them) and the layer."""

from __future__ import annotations

from typing import Any

import torch

from unrolled import activations, constraints, initializers, regularizers
from unrolled.compat import keras1_names
from unrolled.layers.cell import KernelCell, Tensors, Weights
from unrolled.layers.recurrent import KERAS1_NAMES, RNN, cell_and_options
from unrolled.ops import cell_kinds
from unrolled.ops.steps import LSTMStep, lstm_step


class LSTMCell(KernelCell):
    """One LSTM step with Keras's weights and gate order.

    Weights: `kernel (features, 4 * units)`, `recurrent_kernel (units, 4 * units)`,
    `bias (4 * units,)`, each holding the input, forget, cell and output gates side by
    side. `unit_forget_bias=True` starts the forget-gate bias at one.

    Shapes:
        inputs `(samples, features)`; states `[h (samples, units), c (samples, units)]`.
    """

    kind = cell_kinds.LSTM

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

    def _step(self, xs: Tensors, hs: Tensors, states: Tensors, weights: Weights) -> LSTMStep:
        activations = (self.activation, self.recurrent_activation)
        return lstm_step(xs, hs, states[1], *weights, *activations)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}


class LSTM(RNN):
    """Long Short-Term Memory layer, Keras 3 arguments and numbers, on `torch.lstm`.

    Args:
        units: size of the output and of each state (the number of "cells" in one block).
        activation: applied to the candidate `g` and to `c` on output; Keras's default tanh.
        recurrent_activation: the gates' activation; Keras's default sigmoid.
        use_bias, kernel_initializer, recurrent_initializer, bias_initializer: the weights
            `kernel`, `recurrent_kernel`, `bias` and how they start (see `LSTMCell`).
        unit_forget_bias: start the forget gate's bias at one.
        kernel_regularizer, recurrent_regularizer, bias_regularizer, activity_regularizer:
            applied by `fit`.
        kernel_constraint, recurrent_constraint, bias_constraint: applied by `fit`.
        dropout, recurrent_dropout: fractions of the inputs and of `h` dropped in training,
            with one mask per sequence; `seed` seeds them.
        return_sequences, return_state, go_backwards, stateful: as `RNN`.
        unroll, use_cudnn, zero_output_for_mask: as `RNN`.
        **kwargs: `name`, `trainable`, `dtype`, and Keras 1/2's `input_shape`, `input_dim`,
            `input_length`, `batch_input_shape`, `batch_size`.

    Shapes:
        inputs `(samples, timesteps, features)`; output `(samples, units)`, or
        `(samples, timesteps, units)` with `return_sequences=True`; with
        `return_state=True` the tuple `(output, h, c)`.

    Example:
        >>> layer = LSTM(4, return_sequences=True)
        >>> layer(torch.zeros(2, 3, 1)).shape
        torch.Size([2, 3, 4])
        >>> layer
        LSTM(
          4, return_sequences=True
          (cell): LSTMCell(4)
        )
    """

    @keras1_names(KERAS1_NAMES)
    def __init__(
        self,
        units: int,
        activation: activations.ActivationArg = "tanh",
        recurrent_activation: activations.ActivationArg = "sigmoid",
        use_bias: bool = True,
        kernel_initializer: initializers.InitializerArg = "glorot_uniform",
        recurrent_initializer: initializers.InitializerArg = "orthogonal",
        bias_initializer: initializers.InitializerArg = "zeros",
        unit_forget_bias: bool = True,
        kernel_regularizer: regularizers.RegularizerArg = None,
        recurrent_regularizer: regularizers.RegularizerArg = None,
        bias_regularizer: regularizers.RegularizerArg = None,
        activity_regularizer: regularizers.RegularizerArg = None,
        kernel_constraint: constraints.ConstraintArg = None,
        recurrent_constraint: constraints.ConstraintArg = None,
        bias_constraint: constraints.ConstraintArg = None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        use_cudnn: bool | str = "auto",
        zero_output_for_mask: bool = False,
        **kwargs: Any,
    ) -> None:
        cell, options = cell_and_options(LSTMCell, locals())
        super().__init__(cell, **options)
