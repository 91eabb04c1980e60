"""`unrolled.ops.packing` against torch's own packing and plain Python loops over each row."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn.utils.rnn import pack_sequence

from unrolled.ops import packing

MASKS = {
    "mixed": [
        [1, 1, 1, 0, 0],  # post-padding
        [0, 0, 1, 1, 1],  # pre-padding
        [1, 0, 1, 0, 1],  # holes
        [0, 0, 0, 0, 0],  # fully masked
        [1, 1, 1, 1, 1],  # all valid
    ],
    "one_step_rows": [[0, 0, 0, 0, 1], [1, 0, 0, 0, 0], [0, 0, 1, 0, 0]],
    "all_valid": [[1, 1, 1], [1, 1, 1]],
}


def _case(name):
    mask = torch.tensor(MASKS[name], dtype=torch.bool)
    x = torch.randn(*mask.shape, 2, generator=torch.Generator().manual_seed(0))
    return mask, x


@pytest.mark.parametrize("name", sorted(MASKS))
def test_pack_equals_torch_pack_sequence_of_each_rows_valid_steps(name):
    mask, x = _case(name)
    rows = [x[r][mask[r]] for r in range(len(mask)) if mask[r].any()]
    want = pack_sequence(rows, enforce_sorted=False)
    plan = packing.plan(mask)
    torch.testing.assert_close(packing.pack(x, plan), want.data)
    torch.testing.assert_close(plan.batch_sizes, want.batch_sizes)


@pytest.mark.parametrize("name", sorted(MASKS))
def test_unpack_repeats_last_valid_output_and_zeros_before_first(name):
    mask, x = _case(name)
    plan = packing.plan(mask)
    packed_outputs = packing.pack(x, plan) * 10  # any per-step values will do
    out = packing.unpack(packed_outputs, plan, *mask.shape)
    for r in range(mask.shape[0]):
        last = np.zeros(2, dtype=np.float32)
        for t in range(mask.shape[1]):
            if mask[r, t]:
                last = x[r, t].numpy() * 10
            np.testing.assert_allclose(out[r, t].numpy(), last, rtol=1e-6)


def test_final_states_in_row_order_and_empty_rows_keep_their_initial_state():
    mask, _ = _case("mixed")
    plan = packing.plan(mask)
    initial = torch.arange(5.0).unsqueeze(1).repeat(1, 3)  # row r holds r
    running = plan.run_rows.shape[0]
    packed_final = 100 + plan.run_rows.to(torch.float32).unsqueeze(1).repeat(1, 3)  # slot order
    final = packing.final_states(packed_final, initial, plan)
    for r in range(5):
        expected = r if not mask[r].any() else 100 + r
        assert torch.all(final[r] == expected)
    assert running == 4
