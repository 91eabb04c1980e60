"""Keras masked-step semantics as tensor operations.

Keras: a masked step leaves every state unchanged and repeats the previous output
(zeros before the first valid step). So running the cell on only the valid steps of
each row, moved to the front, and then carrying each output forward over the masked
steps gives the same answer for any mask pattern. These helpers do the moving.
"""

from __future__ import annotations

from typing import NamedTuple

import torch


class Compaction(NamedTuple):
    """Where each row's valid steps go when moved to the front, and back."""

    order: torch.Tensor  # (B, T) time index of the k-th valid step, valid steps first
    lengths: torch.Tensor  # (B,) number of valid steps per row
    positions: torch.Tensor  # (B, T) index of the last valid step at or before t, -1 before any


def compaction(mask: torch.Tensor) -> Compaction:
    """Plans the move for a boolean `(samples, timesteps)` mask."""
    # A stable sort on "is masked" keeps the valid steps in their original order.
    order = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)  # (B, T)
    lengths = mask.sum(dim=1)  # (B,)
    positions = mask.cumsum(dim=1) - 1  # (B, T)
    return Compaction(order, lengths, positions)


def compact(x: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """Moves each row's valid steps to the front: `(B, T, F) -> (B, T, F)`."""
    return x.gather(1, order.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


def carry_forward(compact_outputs: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Outputs at the original steps: each masked step repeats the last valid output.

    `compact_outputs (B, T, U)` holds the outputs of the valid steps at the front;
    steps before a row's first valid one get zeros.
    """
    batch, steps, units = compact_outputs.shape
    zero_step = compact_outputs.new_zeros(batch, 1, units)
    padded = torch.cat([zero_step, compact_outputs], dim=1)  # (B, 1 + T, U): index 0 is "none yet"
    # Whole rows of U values are copied by index_select, much faster on CPU than a gather
    # over a (B, T, U) index.
    row_starts = torch.arange(batch, device=positions.device).unsqueeze(1) * (steps + 1)  # (B, 1)
    rows = (row_starts + positions + 1).reshape(-1)  # (B * T,)
    return (
        padded.reshape(batch * (steps + 1), units).index_select(0, rows).view(batch, steps, units)
    )


def zero_masked_steps(outputs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """`zero_output_for_mask=True`: masked steps output zeros instead of repeating."""
    return outputs * mask.unsqueeze(-1).to(outputs.dtype)
