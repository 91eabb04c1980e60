"""SimpleRNN: `h = activation(x @ kernel + h_prev @ recurrent_kernel + bias)`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from unrolled.errors import ConfigError
from unrolled.layers.cell import KernelCell
from unrolled.layers.recurrent import RNN, split_layer_kwargs
from unrolled.ops import cell_kinds
from unrolled.ops.steps import SimpleRNNStep, simple_rnn_step


class SimpleRNNCell(KernelCell):
    """One fully connected recurrent step with Keras's weights.

    Shapes:
        inputs `(samples, features)`; states `[h (samples, units)]`.
    """

    kind = cell_kinds.SIMPLE_RNN

    def __init__(self, units: int, activation: Any = "tanh", **kwargs: Any) -> None:
        if "recurrent_activation" in kwargs:
            raise ConfigError(
                "Unrecognized keyword argument `recurrent_activation`: a SimpleRNN has no gates, "
                "so it takes only `activation`."
            )
        super().__init__(units, activation=activation, **kwargs)
        self.state_size = self.units

    def step(
        self,
        inputs: torch.Tensor,
        states: list[torch.Tensor],
        training: bool = False,
        weights: Sequence[torch.Tensor | None] | None = None,
    ) -> SimpleRNNStep:
        (h_prev,) = states
        xs, hs = self._dropped_out(inputs, h_prev, training)
        kernel, recurrent_kernel, bias = self._weights(weights)
        return simple_rnn_step(xs, hs, kernel, recurrent_kernel, bias, self.activation)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["recurrent_activation"]
        return config


class SimpleRNN(RNN):
    """Fully connected recurrent layer, Keras 3 arguments and numbers, on `torch.rnn_tanh`/`rnn_relu`.

    Shapes:
        inputs `(samples, timesteps, features)`; output `(samples, units)` or
        `(samples, timesteps, units)`; with `return_state=True` the tuple `(output, h)`.

    Example:
        >>> SimpleRNN(4, return_sequences=True)(torch.zeros(2, 3, 1)).shape
        torch.Size([2, 3, 4])
    """

    def __init__(self, units: int, **kwargs: Any) -> None:
        cell_kwargs, layer_kwargs = split_layer_kwargs(SimpleRNNCell, kwargs)
        super().__init__(SimpleRNNCell(units, **cell_kwargs), **layer_kwargs)
