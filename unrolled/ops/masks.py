"""Mask rules applied to outputs (the packing for the fused path is in `ops.packing`)."""

from __future__ import annotations

import torch


def zero_masked_steps(outputs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """`zero_output_for_mask=True`: masked steps output zeros instead of repeating."""
    # (B, T) -> (B, T, 1, ...): broadcasts over the units, and a ConvLSTM's spatial axes too
    trailing = [1] * (outputs.dim() - mask.dim())
    return outputs * mask.reshape(*mask.shape, *trailing).to(outputs.dtype)
