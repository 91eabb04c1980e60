"""`unrolled.ops.loop.run_loop` with a step whose result is known in closed form.

The step is an accumulator: state s_t = s_{t-1} + x_t, output = 10 * s_t. With a mask,
a masked step keeps s and repeats the previous output (zeros before the first valid step).
"""

from __future__ import annotations

import numpy as np
import torch

from unrolled.ops.loop import run_loop


def accumulate(x_t, states):
    (s,) = states
    s = s + x_t
    return 10 * s, [s]


def test_unmasked_loop_gives_running_sums():
    x = torch.arange(1.0, 7.0).reshape(1, 6, 1)
    out, (final,) = run_loop(accumulate, x, [torch.zeros(1, 1)], None)
    np.testing.assert_array_equal(out[0, :, 0].numpy(), 10 * np.cumsum(np.arange(1, 7)))
    assert float(final) == 21.0


def test_masked_loop_skips_masked_steps_and_repeats_previous_output():
    x = torch.tensor([[1.0, 2.0, 4.0, 8.0, 16.0], [1.0, 2.0, 4.0, 8.0, 16.0]]).unsqueeze(-1)
    mask = torch.tensor([[0, 1, 0, 1, 0], [0, 0, 0, 0, 0]], dtype=torch.bool)
    initial = torch.tensor([[100.0], [7.0]])
    out, (final,) = run_loop(accumulate, x, [initial], mask)
    # row 0: zeros before the first valid step; s = 102 at t=1, 110 at t=3.
    assert out[0, :, 0].tolist() == [0.0, 1020.0, 1020.0, 1100.0, 1100.0]
    assert final[0].item() == 110.0
    # row 1: fully masked: zeros throughout, state untouched.
    assert out[1, :, 0].tolist() == [0.0] * 5
    assert final[1].item() == 7.0
