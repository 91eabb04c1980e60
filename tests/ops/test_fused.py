"""`unrolled.ops.fused` against torch.nn.LSTM/GRU run row by row on each row's valid steps."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unrolled.ops import fused

B, T, F, U = 4, 6, 3, 5
MASK = torch.tensor(
    [[1, 1, 1, 1, 0, 0], [0, 0, 1, 1, 1, 1], [1, 0, 1, 0, 0, 1], [0, 0, 0, 0, 0, 0]],
    dtype=torch.bool,
)


def module_and_params(kind):
    torch.manual_seed(0)
    module = (
        torch.nn.LSTM(F, U, batch_first=True)
        if kind == "lstm"
        else torch.nn.GRU(F, U, batch_first=True)
    )
    return module, [p.detach() for p in module.parameters()]


def initial_states(kind):
    g = torch.Generator().manual_seed(4)
    return [torch.randn(B, U, generator=g) for _ in range(2 if kind == "lstm" else 1)]


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_run_fused_equals_torch_module(kind):
    module, params = module_and_params(kind)
    x = torch.randn(B, T, F, generator=torch.Generator().manual_seed(5))
    states = initial_states(kind)
    hidden = tuple(s.unsqueeze(0) for s in states) if kind == "lstm" else states[0].unsqueeze(0)
    want_out, want_hidden = module(x, hidden)
    with torch.no_grad():
        out, final = fused.run_fused(kind, x, states, params, [U, U] if kind == "lstm" else U)
    want_final = [h.squeeze(0) for h in want_hidden] if kind == "lstm" else [want_hidden.squeeze(0)]
    torch.testing.assert_close(out, want_out, atol=1e-6, rtol=1e-6)
    for got, want in zip(final, want_final):
        torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_run_fused_without_states_starts_from_zeros_like_torch(kind):
    module, params = module_and_params(kind)
    x = torch.randn(B, T, F, generator=torch.Generator().manual_seed(7))
    want_out, _ = module(x)  # torch's default initial state is zeros
    with torch.no_grad():
        out, _ = fused.run_fused(kind, x, None, params, [U, U] if kind == "lstm" else U)
    torch.testing.assert_close(out, want_out, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_run_fused_masked_equals_torch_on_each_rows_valid_steps(kind):
    module, params = module_and_params(kind)
    x = torch.randn(B, T, F, generator=torch.Generator().manual_seed(6))
    states = initial_states(kind)
    with torch.no_grad():
        out, final = fused.run_fused_masked(kind, x, states, params, MASK)
        for row in range(B):
            valid = MASK[row].nonzero().squeeze(-1)
            row_states = [s[row : row + 1] for s in states]
            if len(valid) == 0:
                np.testing.assert_array_equal(out[row].numpy(), np.zeros((T, U)))
                for got, init in zip(final, row_states):
                    np.testing.assert_array_equal(got[row].numpy(), init[0].numpy())
                continue
            hidden = (
                tuple(s.unsqueeze(0) for s in row_states)
                if kind == "lstm"
                else row_states[0].unsqueeze(0)
            )
            row_out, row_hidden = module(x[row : row + 1, valid], hidden)
            row_final = [h[0, 0] for h in row_hidden] if kind == "lstm" else [row_hidden[0, 0]]
            # Keras rule: each step shows the output of the last valid step at or before it.
            k, last = 0, torch.zeros(U)
            for t in range(T):
                if MASK[row, t]:
                    last = row_out[0, k]
                    k += 1
                torch.testing.assert_close(out[row, t], last, atol=1e-6, rtol=1e-6)
            for got, want in zip(final, row_final):
                torch.testing.assert_close(got[row], want, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("rows", [1, B])
def test_run_fused_masked_with_every_row_masked_returns_zeros_and_initial_states(rows):
    _, params = module_and_params("lstm")
    states = [s[:rows] for s in initial_states("lstm")]
    out, final = fused.run_fused_masked(
        "lstm", torch.randn(rows, T, F), states, params, torch.zeros(rows, T, dtype=torch.bool)
    )
    np.testing.assert_array_equal(out.numpy(), np.zeros((rows, T, U)))
    for got, init in zip(final, states):
        np.testing.assert_array_equal(got.numpy(), init.numpy())


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize(
    "pattern",
    [[0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0], [1, 0, 1, 1, 0, 1], [1] * 6, [0, 1, 0, 0, 0, 0]],
)
@pytest.mark.parametrize("rows", [1, 3])  # one row takes its own path (the mask read as a list)
def test_rows_padded_alike_equal_torch_on_the_valid_steps(kind, pattern, rows):
    module, params = module_and_params(kind)
    steps = len(pattern)
    mask = torch.tensor([pattern] * rows, dtype=torch.bool)
    x = torch.randn(rows, steps, F, generator=torch.Generator().manual_seed(8))
    states = [s[:rows] for s in initial_states(kind)]
    valid = mask[0].nonzero().squeeze(1)
    hidden = tuple(s.unsqueeze(0) for s in states) if kind == "lstm" else states[0].unsqueeze(0)
    with torch.no_grad():
        want_out, want_hidden = module(x[:, valid], hidden)
        out, final = fused.run_fused_masked(kind, x, states, params, mask)
    last = np.zeros((rows, U), dtype=np.float32)  # Keras: zeros before the first valid step
    k = 0
    for t in range(steps):
        if pattern[t]:
            last = want_out[:, k].numpy()
            k += 1
        np.testing.assert_allclose(out[:, t].numpy(), last, atol=1e-6)
    want_final = [h.squeeze(0) for h in want_hidden] if kind == "lstm" else [want_hidden.squeeze(0)]
    for got, want in zip(final, want_final):
        torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-6)


def test_lstm_outputs_without_final_states_equal_torch_on_each_rows_valid_steps():
    """Ragged rows with no final c asked for run the dense operator on left-aligned steps."""
    module, params = module_and_params("lstm")
    x = torch.randn(B, T, F, generator=torch.Generator().manual_seed(9))
    states = initial_states("lstm")
    with torch.no_grad():
        out, _ = fused.run_fused_masked("lstm", x, states, params, MASK, final_states=False)
        for row in range(B):
            valid = MASK[row].nonzero().squeeze(-1)
            if len(valid) == 0:
                np.testing.assert_array_equal(out[row].numpy(), np.zeros((T, U)))
                continue
            hidden = tuple(s[row : row + 1].unsqueeze(0) for s in states)
            want, _ = module(x[row : row + 1, valid], hidden)
            last, k = np.zeros(U, dtype=np.float32), 0
            for t in range(T):
                if MASK[row, t]:
                    last, k = want[0, k].numpy(), k + 1
                np.testing.assert_allclose(out[row, t].numpy(), last, atol=1e-6)
