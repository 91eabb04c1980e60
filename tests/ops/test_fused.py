"""`unrolled.ops.fused` against torch.nn.LSTM/GRU run row by row on each row's valid steps."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unrolled.ops import fused
from unrolled.ops.cell_kinds import FUSED_OPERATORS

OPERATORS = {operator.name: operator for operator in FUSED_OPERATORS}

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
        out, final = fused.run_fused(
            OPERATORS[kind], x, states, params, [U, U] if kind == "lstm" else U
        )
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
        out, _ = fused.run_fused(OPERATORS[kind], x, None, params, [U, U] if kind == "lstm" else U)
    torch.testing.assert_close(out, want_out, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_run_fused_masked_equals_torch_on_each_rows_valid_steps(kind):
    module, params = module_and_params(kind)
    x = torch.randn(B, T, F, generator=torch.Generator().manual_seed(6))
    states = initial_states(kind)
    with torch.no_grad():
        out, final = fused.run_fused_masked(OPERATORS[kind], x, states, params, MASK)
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
        OPERATORS["lstm"],
        torch.randn(rows, T, F),
        states,
        params,
        torch.zeros(rows, T, dtype=torch.bool),
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
        out, final = fused.run_fused_masked(OPERATORS[kind], x, states, params, mask)
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
        out, _ = fused.run_fused_masked(
            OPERATORS["lstm"], x, states, params, MASK, final_states=False
        )
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


def keras_outputs_row_by_row(module, x, mask, states):
    """Outputs `(B, T, U)` and final h by Keras's rule, from torch run on each row's valid steps."""
    out = np.zeros((x.shape[0], x.shape[1], U), dtype=np.float32)
    final_h = states[0].clone() if states is not None else torch.zeros(x.shape[0], U)
    for row in range(x.shape[0]):
        valid = mask[row].nonzero().squeeze(-1)
        if len(valid) == 0:
            continue
        row_states = [s[row : row + 1].unsqueeze(0) for s in states] if states else None
        hidden = (
            None
            if row_states is None
            else (tuple(row_states) if isinstance(module, torch.nn.LSTM) else row_states[0])
        )
        want, _ = module(x[row : row + 1, valid], hidden)
        k, last = 0, np.zeros(U, dtype=np.float32)
        for t in range(x.shape[1]):
            if mask[row, t]:
                last, k = want[0, k].numpy(), k + 1
            out[row, t] = last
        final_h[row] = want[0, -1]
    return out, final_h


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("with_states", [True, False])
@pytest.mark.parametrize("final_states", [True, False])
@pytest.mark.parametrize(
    "mask",
    [MASK, MASK[:1], MASK[1:2], MASK[3:], torch.tensor([[1, 0, 1, 1, 0, 1]] * 3, dtype=torch.bool)],
    ids=["ragged", "one-row-post", "one-row-pre", "one-row-empty", "alike-holes"],
)
def test_last_only_gives_the_last_step_output_of_the_full_run(
    kind, with_states, final_states, mask
):
    """`last_only` returns `(B, U)`: the last step's output; states None means zeros."""
    module, params = module_and_params(kind)
    rows = mask.shape[0]
    x = torch.randn(rows, T, F, generator=torch.Generator().manual_seed(10))
    states = [s[:rows] for s in initial_states(kind)] if with_states else None
    with torch.no_grad():
        want_out, want_h = keras_outputs_row_by_row(module, x, mask, states)
        last, final = fused.run_fused_masked(
            OPERATORS[kind], x, states, params, mask, final_states=final_states, last_only=True
        )
        full, full_final = fused.run_fused_masked(
            OPERATORS[kind], x, states, params, mask, final_states=final_states
        )
    assert last.shape == (rows, U)
    np.testing.assert_allclose(last.numpy(), want_out[:, -1], atol=1e-6)
    np.testing.assert_allclose(full.numpy(), want_out, atol=1e-6)
    if final_states:  # without, they may be left out
        np.testing.assert_allclose(final[0].numpy(), want_h.numpy(), atol=1e-6)
        np.testing.assert_allclose(full_final[0].numpy(), want_h.numpy(), atol=1e-6)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_zero_states_made_in_inference_mode_do_not_leak_into_training(kind):
    """Zero initial states are reused across calls, but never an inference tensor in autograd."""
    module, params = module_and_params(kind)
    weights = [p.clone().requires_grad_() for p in params]
    x = torch.randn(B, T, F, generator=torch.Generator().manual_seed(11))
    sizes = [U, U] if kind == "lstm" else U
    with torch.inference_mode():
        fused.run_fused(OPERATORS[kind], x, None, params, sizes)
    out, _ = fused.run_fused(OPERATORS[kind], x, None, weights, sizes)
    out.sum().backward()  # raises if an inference tensor was saved for backward
    want, _ = module(x)
    torch.testing.assert_close(out, want, atol=1e-6, rtol=1e-6)
    assert all(w.grad is not None for w in weights)
