"""`unrolled.ops.masks` against plain Python loops over each row."""

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


def test_compaction_orders_valid_steps_first_keeping_their_order():
    plan = masks.compaction(MASK)
    for row, m in enumerate(MASK.tolist()):
        valid = [t for t, v in enumerate(m) if v]
        masked = [t for t, v in enumerate(m) if not v]
        assert plan.order[row].tolist() == valid + masked
        assert int(plan.lengths[row]) == len(valid)


def test_compaction_positions_point_at_last_valid_step_or_minus_one():
    plan = masks.compaction(MASK)
    for row, m in enumerate(MASK.tolist()):
        count, expected = 0, []
        for v in m:
            count += v
            expected.append(count - 1)  # index among valid steps; -1 before any
        assert plan.positions[row].tolist() == expected


def test_compact_gathers_valid_steps_to_the_front():
    x = torch.arange(5 * 5 * 2, dtype=torch.float32).reshape(5, 5, 2)
    plan = masks.compaction(MASK)
    out = masks.compact(x, plan.order)
    for row, m in enumerate(MASK.tolist()):
        valid = [t for t, v in enumerate(m) if v]
        np.testing.assert_array_equal(out[row, : len(valid)].numpy(), x[row, valid].numpy())


def test_carry_forward_repeats_last_valid_output_and_zeros_before_first():
    plan = masks.compaction(MASK)
    compact = torch.arange(1, 5 * 5 * 3 + 1, dtype=torch.float32).reshape(5, 5, 3)
    out = masks.carry_forward(compact, plan.positions)
    for row, m in enumerate(MASK.tolist()):
        k, last = 0, np.zeros(3, dtype=np.float32)
        for t, v in enumerate(m):
            if v:
                last = compact[row, k].numpy()
                k += 1
            np.testing.assert_array_equal(out[row, t].numpy(), last)


def test_zero_masked_steps_zeros_exactly_the_masked_steps():
    outputs = torch.ones(5, 5, 2)
    out = masks.zero_masked_steps(outputs, MASK)
    expected = MASK.numpy()[:, :, None] * np.ones((1, 1, 2))
    np.testing.assert_array_equal(out.numpy(), expected)
