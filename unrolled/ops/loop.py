"""The step loop over any cell: the readable reference path.

It runs for what the fused operators cannot do (recurrent dropout, other
activations, GRU `reset_after=False`, user cells) and is the oracle the fast paths
are tested against.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Step = Callable[[torch.Tensor, list[torch.Tensor]], tuple[torch.Tensor, list[torch.Tensor]]]


def run_loop(
    step: Step,
    x: torch.Tensor,
    states: list[torch.Tensor],
    mask: torch.Tensor | None,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Runs `step` over the timesteps of `x (B, T, F)` with Keras's masked-step rule.

    Returns the outputs `(B, T, U)`, where a masked step repeats the previous output
    (zeros before the first valid step), and the final states, which masked steps leave
    unchanged.
    """
    outputs = []
    previous: torch.Tensor | None = None
    # unbind, not x[:, t]: the gradient of T views is one stack, where each indexed step's
    # backward would fill a zero tensor the size of all of x (T of them, quadratic in T).
    for t, x_t in enumerate(x.unbind(1)):
        output, new_states = step(x_t, states)
        if mask is not None:
            valid = mask[:, t]  # (B,)
            if previous is None:
                previous = torch.zeros_like(output)
            output = torch.where(_column(valid, output), output, previous)
            new_states = [
                torch.where(_column(valid, new), new, old) for new, old in zip(new_states, states)
            ]
        outputs.append(output)
        previous, states = output, list(new_states)
    return torch.stack(outputs, dim=1), states  # (B, T, U)


def _column(valid: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    # (B,) -> (B, 1, ...) so it broadcasts over a state or output of any rank; a mask with
    # spatial axes (B, rows, cols) masks each position of a ConvLSTM's (B, rows, cols, F).
    return valid.reshape(*valid.shape, *([1] * (like.dim() - valid.dim())))
