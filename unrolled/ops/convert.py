"""Array-likes to tensors at the public boundary, refusing what cannot convert safely."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from unrolled.errors import InputTypeError, ShapeError

_REAL_KINDS = (
    "biuf"  # bool, signed, unsigned, float: NumPy kinds that convert without loss of meaning
)


def as_real_tensor(value: Any, argument: str) -> torch.Tensor:
    """`value` (tensor, array or nested list) as a real-valued tensor, without copying tensors.

    Raises:
        InputTypeError: for complex, string or object data, naming `argument`.
        ShapeError: for ragged nested lists.
    """
    if isinstance(value, torch.Tensor):
        if value.is_complex():
            raise InputTypeError(
                f"`{argument}` must be real-valued; received a tensor of dtype {value.dtype}."
            )
        return value
    try:
        array = np.asarray(value)
    except ValueError:
        raise ShapeError(
            f"`{argument}` is a ragged nested list; all sequences must have one length. "
            "Pad them to one length (pad_sequences) and pass a mask."
        ) from None
    if array.dtype.kind not in _REAL_KINDS:
        raise InputTypeError(
            f"`{argument}` must be numeric; received an array of dtype {array.dtype}."
        )
    # A read-only array is copied: torch warns on it and could write through it.
    return torch.from_numpy(array if array.flags.writeable else array.copy())
