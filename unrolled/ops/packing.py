"""Keras masking on torch's packed RNN operators, with two row copies and no padding round trip.

Keras: a masked step leaves the states alone and repeats the previous output (zeros before
the first valid step). So running the operator on each row's valid steps only, packed, and
then reading every original step's output from the packed result at "the last valid step so
far" gives Keras's answer for any mask: pre-padding, post-padding, holes, empty rows.

`plan(mask)` computes the index maps once; `pack` gathers the valid steps straight into
torch's packed layout (time-major, longest rows first), `unpack` reads the outputs back
with the masked steps filled in, and `final_states` puts the last states in row order.
"""

from __future__ import annotations

from typing import NamedTuple

import torch


class PackPlan(NamedTuple):
    """Index maps between a `(B, T)` mask's valid steps and torch's packed layout."""

    source: torch.Tensor  # (N,) flat index into (B * T) of each packed step
    batch_sizes: torch.Tensor  # (K,) CPU int64: rows still running at packed step k
    run_rows: (
        torch.Tensor
    )  # (R,) original row of each packed row (longest first); R rows have a valid step
    row_slot: torch.Tensor  # (B,) packed row of each original row (R.. for rows with no valid step)
    output_index: (
        torch.Tensor
    )  # (B * T,) 1 + packed step of each original step's output, 0 for "zeros"


def plan(mask: torch.Tensor) -> PackPlan:
    """The index maps for a boolean `(samples, timesteps)` mask with at least one valid step."""
    batch, steps = mask.shape
    device = mask.device
    lengths = mask.sum(dim=1)  # (B,)
    sorted_lengths, sorted_rows = lengths.sort(descending=True, stable=True)
    running = int((sorted_lengths > 0).sum())
    longest = int(sorted_lengths[0])
    run_lengths = sorted_lengths[:running]  # (R,)
    # Time index of each row's k-th valid step: a stable sort puts valid steps first, in order.
    order = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)  # (B, T)

    alive = torch.arange(longest, device=device).unsqueeze(1) < run_lengths.unsqueeze(0)  # (K, R)
    step_k, slot = alive.nonzero(as_tuple=True)  # packed order: by step, then by slot
    rows = sorted_rows[slot]
    source = rows * steps + order[rows, step_k]  # (N,)
    batch_sizes = alive.sum(dim=1).cpu()  # (K,)

    row_slot = torch.empty_like(sorted_rows)
    row_slot[sorted_rows] = torch.arange(batch, device=device)
    offsets = torch.cumsum(alive.sum(dim=1), 0) - alive.sum(
        dim=1
    )  # (K,) first packed index of step k
    position = mask.cumsum(dim=1) - 1  # (B, T): the last valid step at or before t, -1 before any
    packed_step = offsets[
        position.clamp(min=0).clamp(max=max(longest - 1, 0))
    ] + row_slot.unsqueeze(1)
    output_index = torch.where(
        position >= 0, packed_step + 1, torch.zeros_like(packed_step)
    ).reshape(-1)
    return PackPlan(source, batch_sizes, sorted_rows[:running], row_slot, output_index)


def pack(x: torch.Tensor, packing: PackPlan) -> torch.Tensor:
    """The valid steps of `x (B, T, F)` in torch's packed layout: `(N, F)`."""
    batch, steps, features = x.shape
    return x.reshape(batch * steps, features).index_select(0, packing.source)


def unpack(packed_outputs: torch.Tensor, packing: PackPlan, batch: int, steps: int) -> torch.Tensor:
    """Outputs at every original step `(B, T, U)`: masked steps repeat the last valid output."""
    units = packed_outputs.shape[-1]
    with_zero = torch.cat([packed_outputs.new_zeros(1, units), packed_outputs])  # (1 + N, U)
    return with_zero.index_select(0, packing.output_index).view(batch, steps, units)


def final_states(
    packed_final: torch.Tensor, initial: torch.Tensor, packing: PackPlan
) -> torch.Tensor:
    """Last states in row order `(B, U)`; rows with no valid step keep their initial state."""
    idle = initial.index_select(0, _idle_rows(packing))  # (B - R, U)
    return torch.cat([packed_final, idle]).index_select(0, packing.row_slot)


def _idle_rows(packing: PackPlan) -> torch.Tensor:
    # Rows with no valid step sit after the running ones in slot order.
    slots = packing.row_slot.shape[0]
    order = torch.empty_like(packing.row_slot)
    order[packing.row_slot] = torch.arange(slots, device=packing.row_slot.device)
    return order[packing.run_rows.shape[0] :]
