"""`Masking`: marks the timesteps whose features all equal `mask_value` as padding."""

from __future__ import annotations

from typing import Any

import torch

from unrolled.layers.base import Layer
from unrolled.layers.coerce import as_input, check_rank


class Masking(Layer):
    """Masks every timestep whose features all equal `mask_value`.

    The output is the input with masked timesteps set to zero, and it carries the mask
    `any(inputs != mask_value, axis=-1)` (True: a valid step) for the layers after it, as
    Keras's does. A recurrent layer downstream then skips the masked steps.

    Shapes:
        inputs `(samples, timesteps, features)`; output the same; mask `(samples, timesteps)`.

    Example:
        >>> x = torch.tensor([[[1.0], [0.0], [2.0]]])
        >>> Masking(0.0)(x)._keras_mask
        tensor([[ True, False,  True]])
    """

    supports_masking = True
    _config_options = ("mask_value",)

    def __init__(self, mask_value: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mask_value = mask_value
        self.build_from_hint()

    def forward(self, inputs: Any) -> torch.Tensor:
        x = as_input(inputs)
        check_rank(x, self.name, 2, "(samples, timesteps, features)")
        valid = (x != self.mask_value).any(dim=-1, keepdim=True)  # (samples, timesteps, 1)
        outputs = torch.where(valid, x, torch.zeros_like(x))
        outputs._keras_mask = valid.squeeze(-1)  # (samples, timesteps)
        return outputs

    def compute_mask(self, inputs: Any, mask: Any = None) -> torch.Tensor:
        """`any(inputs != mask_value, axis=-1)`; a mask coming in is replaced, not combined."""
        return (as_input(inputs) != self.mask_value).any(dim=-1)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return tuple(input_shape)
