"""`unrolled.ops.masks` against a hand-written expectation."""

from __future__ import annotations

import numpy as np
import torch

from unrolled.ops import masks

MASK = torch.tensor(
    [
        [1, 1, 1, 0, 0],  # post-padding
        [0, 0, 1, 1, 1],  # pre-padding
        [1, 0, 1, 0, 1],  # holes
        [0, 0, 0, 0, 0],  # fully masked
        [1, 1, 1, 1, 1],  # all valid
    ],
    dtype=torch.bool,
)


def test_zero_masked_steps_zeros_exactly_the_masked_steps():
    outputs = torch.ones(5, 5, 2)
    out = masks.zero_masked_steps(outputs, MASK)
    expected = MASK.numpy()[:, :, None] * np.ones((1, 1, 2))
    np.testing.assert_array_equal(out.numpy(), expected)
