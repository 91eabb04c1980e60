"""Layer inputs as tensors: what weighted and weightless layers accept, checked once."""

from __future__ import annotations

from typing import Any

import torch

from unrolled.errors import ConfigError, ShapeError, shape_str
from unrolled.ops.convert import as_real_tensor


def as_input(value: Any) -> torch.Tensor:
    """`value` as a tensor; NumPy floats become the default float dtype (float32), as in Keras.

    Tensors pass through unchanged, so a model cast with `.double()` keeps its dtype.
    """
    x = as_real_tensor(value, "inputs")
    if not isinstance(value, torch.Tensor) and x.is_floating_point():
        x = x.to(torch.get_default_dtype())
    return x


def as_weight_input(value: Any, weight: torch.Tensor, layer: str) -> torch.Tensor:
    """`value` as a tensor on `weight`'s device and of its dtype (integers become floats).

    Raises:
        ConfigError: for a tensor on another device than the weights.
    """
    x = as_real_tensor(value, "inputs")
    if isinstance(value, torch.Tensor) and x.device != weight.device:
        raise ConfigError(
            f"{layer}: inputs are on {x.device} but the weights are on {weight.device}; "
            f"move one of them, e.g. inputs.to('{weight.device}')."
        )
    return x.to(device=weight.device, dtype=weight.dtype)


def check_rank(x: torch.Tensor, layer: str, minimum: int, expected: str) -> None:
    """Raises ShapeError when `x` has fewer than `minimum` axes; `expected` names them."""
    if x.dim() < minimum:
        raise ShapeError(
            f"{layer} expects inputs of shape {expected}; received a {x.dim()}-D array of "
            f"shape {shape_str(x.shape)}."
        )
