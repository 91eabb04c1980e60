"""GRU: the cell math (gates z, r, h, as Keras orders them) and the layer."""

from __future__ import annotations

from typing import Any

import torch

from unrolled.layers.cell import GatedCell
from unrolled.layers.recurrent import RNN, split_layer_kwargs
from unrolled.ops.weights import gru_fused_params


class GRUCell(GatedCell):
    """One GRU step with Keras's weights and gate order (update z, reset r, candidate h).

    With `reset_after=True` (Keras 3's default, and torch's and cuDNN's formula) the
    reset gate multiplies the recurrent candidate after its matmul, and the bias has
    two rows, `(2, 3 * units)`: input bias and recurrent bias. With `reset_after=False`
    it multiplies `h` before the matmul and the bias is `(3 * units,)`.

    Shapes:
        inputs `(samples, features)`; states `[h (samples, units)]`.
    """

    gates = 3
    fused_kind = "gru"

    def __init__(self, units: int, reset_after: bool = True, **kwargs: Any) -> None:
        super().__init__(units, **kwargs)
        self.reset_after = bool(reset_after)
        self.state_size = self.units

    def _bias_shape(self) -> tuple[int, ...]:
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def call(
        self, inputs: torch.Tensor, states: list[torch.Tensor], training: bool = False
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        (h_prev,) = states
        per_gate = self.recurrent_dropout > 0
        x_masks = self.input_dropout_masks(inputs, 3 if per_gate else 1, training)
        h_masks = self.recurrent_dropout_masks(h_prev, 3, training)
        if self.bias is None:
            input_bias = recurrent_bias = None
        elif self.reset_after:
            input_bias, recurrent_bias = self.bias[0], self.bias[1]
        else:
            input_bias, recurrent_bias = self.bias, None
        x_z, x_r, x_h = (
            self._project(inputs, x_masks, gate, input_bias) for gate in range(3)
        )  # (B, U) each
        u = self.units
        h_z, h_r, h_h = (h_prev if h_masks is None else h_prev * h_masks[gate] for gate in range(3))
        recurrent_z = h_z @ self.recurrent_kernel[:, :u]
        recurrent_r = h_r @ self.recurrent_kernel[:, u : 2 * u]
        if recurrent_bias is not None:
            recurrent_z = recurrent_z + recurrent_bias[:u]
            recurrent_r = recurrent_r + recurrent_bias[u : 2 * u]
        z = self.recurrent_activation(x_z + recurrent_z)
        r = self.recurrent_activation(x_r + recurrent_r)
        if self.reset_after:
            recurrent_h = h_h @ self.recurrent_kernel[:, 2 * u :]
            if recurrent_bias is not None:
                recurrent_h = recurrent_h + recurrent_bias[2 * u :]
            recurrent_h = r * recurrent_h
        else:
            recurrent_h = (r * h_h) @ self.recurrent_kernel[:, 2 * u :]
        candidate = self.activation(x_h + recurrent_h)
        h = z * h_prev + (1 - z) * candidate
        return h, [h]

    def _project(
        self,
        inputs: torch.Tensor,
        masks: list[torch.Tensor] | None,
        gate: int,
        bias: torch.Tensor | None,
    ) -> torch.Tensor:
        u = self.units
        x = inputs if masks is None else inputs * masks[gate % len(masks)]
        projected = x @ self.kernel[:, gate * u : (gate + 1) * u]
        return projected if bias is None else projected + bias[gate * u : (gate + 1) * u]

    def fused_blocker(self) -> str | None:
        if not self.reset_after:
            return "reset_after=False applies the reset gate before the recurrent matmul; torch.gru applies it after"
        return super().fused_blocker()

    def fused_params(self) -> list[torch.Tensor]:
        return gru_fused_params(self.kernel, self.recurrent_kernel, self.bias)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "reset_after": self.reset_after}


class GRU(RNN):
    """Gated Recurrent Unit layer, Keras 3 arguments and numbers, on `torch.gru`.

    Args:
        units: size of the output and of the state.
        reset_after: Keras 3's default True matches torch and cuDNN; False is the
            original formula (step loop only).
        other arguments: as `LSTM`.

    Shapes:
        inputs `(samples, timesteps, features)`; output `(samples, units)` or
        `(samples, timesteps, units)`; with `return_state=True` the tuple `(output, h)`.

    Example:
        >>> GRU(8)(torch.zeros(2, 5, 3)).shape
        torch.Size([2, 8])
    """

    def __init__(self, units: int, **kwargs: Any) -> None:
        cell_kwargs, layer_kwargs = split_layer_kwargs(GRUCell, kwargs)
        super().__init__(GRUCell(units, **cell_kwargs), **layer_kwargs)
