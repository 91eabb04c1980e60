"""One timestep on torch's fused cell operators (`torch.lstm_cell`, `gru_cell`, `rnn_*_cell`).

For a single step these are several times faster than the sequence operators, whose
oneDNN set-up costs more than the step itself. Same weights, same math: the
rollouts' per-step path.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

CELL_OPERATORS: dict[str, Callable[..., torch.Tensor | tuple[torch.Tensor, torch.Tensor]]] = {
    "lstm": torch.lstm_cell,
    "gru": torch.gru_cell,
    "rnn_tanh": torch.rnn_tanh_cell,
    "rnn_relu": torch.rnn_relu_cell,
}


def run_fused_step(
    kind: str, x: torch.Tensor, states: list[torch.Tensor], params: list[torch.Tensor]
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """One step `x (B, F)` from `states` with `run_fused`'s `params`; returns `(h, new_states)`."""
    w_ih, w_hh, *biases = params
    b_ih, b_hh = biases if biases else (None, None)
    if kind == "lstm":
        h, c = CELL_OPERATORS[kind](x, (states[0], states[1]), w_ih, w_hh, b_ih, b_hh)
        return h, [h, c]
    h = CELL_OPERATORS[kind](x, states[0], w_ih, w_hh, b_ih, b_hh)
    return h, [h]
