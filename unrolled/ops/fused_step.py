"""One timestep on torch's fused cell operators (`torch.lstm_cell`, `gru_cell`, `rnn_*_cell`).

For a single step these are several times faster than the sequence operators, whose
oneDNN set-up costs more than the step itself. Same weights, same math: the
rollouts' per-step path.
"""

from __future__ import annotations

import torch

from unrolled.ops.cell_kinds import FusedOperator


def run_fused_step(
    kind: FusedOperator, x: torch.Tensor, states: list[torch.Tensor], params: list[torch.Tensor]
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """One step `x (B, F)` from `states` with `run_fused`'s `params`; returns `(h, new_states)`."""
    w_ih, w_hh, *biases = params
    b_ih, b_hh = biases if biases else (None, None)
    if kind.paired_states:
        h, c = kind.step(x, (states[0], states[1]), w_ih, w_hh, b_ih, b_hh)
        return h, [h, c]
    h = kind.step(x, states[0], w_ih, w_hh, b_ih, b_hh)
    return h, [h]
