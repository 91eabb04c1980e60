"""Mask rules applied to outputs (the packing for the fused path is in `ops.packing`)."""

from __future__ import annotations

from typing import Any

import torch

from unrolled.errors import ShapeError, shape_str


def zero_masked_steps(outputs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """`zero_output_for_mask=True`: masked steps output zeros instead of repeating."""
    # (B, T) -> (B, T, 1, ...): broadcasts over the units, and a ConvLSTM's spatial axes too
    trailing = [1] * (outputs.dim() - mask.dim())
    return outputs * mask.reshape(*mask.shape, *trailing).to(outputs.dtype)


def check_step_mask(mask: Any, x: torch.Tensor, layer: str, what: str = "mask") -> None:
    """Raises ShapeError unless `mask` (if any) is `(samples, timesteps)` of the inputs `x`,
    `(samples, timesteps, features)`: a mask of other steps would broadcast or fail in torch."""
    if mask is None:
        return
    got = mask_shape(mask)
    expected = tuple(x.shape[:2])
    if got != expected:
        raise ShapeError(
            f"{layer}: {what} must have shape (samples, timesteps) = {shape_str(expected)}, "
            f"the first two axes of its inputs {shape_str(tuple(x.shape))}; received "
            f"{shape_str(got)}."
        )


def mask_shape(mask: Any) -> tuple[int, ...]:
    """The shape of a mask given as a tensor, an array or nested lists."""
    shape = getattr(mask, "shape", None)
    return tuple(shape) if shape is not None else tuple(torch.as_tensor(mask).shape)
