"""Mask rules applied to outputs (the packing for the fused path is in `ops.packing`)."""

from __future__ import annotations

import torch


def zero_masked_steps(outputs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """`zero_output_for_mask=True`: masked steps output zeros instead of repeating."""
    return outputs * mask.unsqueeze(-1).to(outputs.dtype)
