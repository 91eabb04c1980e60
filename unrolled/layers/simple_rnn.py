"""SimpleRNN: `h = activation(x @ kernel + h_prev @ recurrent_kernel + bias)`."""

from __future__ import annotations

from typing import Any

import torch

from unrolled import activations
from unrolled.errors import ConfigError
from unrolled.layers.cell import GatedCell
from unrolled.layers.recurrent import RNN, split_layer_kwargs
from unrolled.ops.weights import simple_rnn_fused_params

_FUSED_BY_ACTIVATION = {"tanh": "rnn_tanh", "relu": "rnn_relu"}


class SimpleRNNCell(GatedCell):
    """One fully connected recurrent step with Keras's weights.

    Shapes:
        inputs `(samples, features)`; states `[h (samples, units)]`.
    """

    def __init__(self, units: int, activation: Any = "tanh", **kwargs: Any) -> None:
        if "recurrent_activation" in kwargs:
            raise ConfigError(
                "Unrecognized keyword argument `recurrent_activation`: a SimpleRNN has no gates, "
                "so it takes only `activation`."
            )
        super().__init__(units, activation=activation, **kwargs)
        self.state_size = self.units

    @property
    def fused_kind(self) -> str | None:  # type: ignore[override]
        return _FUSED_BY_ACTIVATION.get(activations.name_of(self.activation) or "")

    def call(
        self, inputs: torch.Tensor, states: list[torch.Tensor], training: bool = False
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        (h_prev,) = states
        x_masks = self.input_dropout_masks(inputs, 1, training)
        h_masks = self.recurrent_dropout_masks(h_prev, 1, training)
        x = inputs if x_masks is None else inputs * x_masks[0]
        h = h_prev if h_masks is None else h_prev * h_masks[0]
        z = x @ self.kernel  # (B, U)
        if self.bias is not None:
            z = z + self.bias
        output = self.activation(z + h @ self.recurrent_kernel)
        return output, [output]

    def fused_blocker(self) -> str | None:
        if self.fused_kind is None:
            return (
                f"activation={activations.serialize(self.activation)!r}; "
                "the fused operators compute tanh or relu"
            )
        return None

    def fused_params(self) -> list[torch.Tensor]:
        return self._transposed_params(simple_rnn_fused_params)

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
