"""`RNN([cell, cell, ...])`: stacked cells equal the same layers run one after the other."""

from __future__ import annotations

import numpy as np
import torch

import unrolled

B, T, F = 3, 6, 5
X = torch.randn(B, T, F, generator=torch.Generator().manual_seed(0))
MASK = torch.tensor([[1, 1, 1, 1, 0, 0], [0, 1, 1, 0, 1, 1], [1, 1, 1, 1, 1, 1]], dtype=torch.bool)


def stacked_and_separate():
    torch.manual_seed(1)
    stacked = unrolled.RNN([unrolled.LSTMCell(4), unrolled.GRUCell(3)], return_state=True)
    stacked.build((None, T, F))
    rng = np.random.default_rng(2)
    weights = [rng.uniform(-0.5, 0.5, w.shape).astype(np.float32) for w in stacked.get_weights()]
    stacked.set_weights(weights)
    first = unrolled.LSTM(4, return_sequences=True, return_state=True)
    second = unrolled.GRU(3, return_state=True)
    first.set_weights(weights[:3])
    second.set_weights(weights[3:])
    return stacked, first, second


def test_stacked_weights_are_each_cells_weights_in_order():
    stacked, _, _ = stacked_and_separate()
    shapes = [w.shape for w in stacked.get_weights()]
    assert shapes == [(F, 16), (4, 16), (16,), (4, 9), (3, 9), (2, 9)]


def test_stacked_returns_output_and_states_grouped_per_cell():
    stacked, _, _ = stacked_and_separate()
    out, lstm_states, gru_states = stacked(X)
    assert out.shape == (B, 3)
    assert isinstance(lstm_states, list) and len(lstm_states) == 2
    assert all(s.shape == (B, 4) for s in lstm_states)
    # Keras 3.15 gives a one-state cell's states as a one-item list too.
    assert isinstance(gru_states, list) and [s.shape for s in gru_states] == [(B, 3)]


def test_stacked_equals_two_layers_run_in_sequence():
    stacked, first, second = stacked_and_separate()
    out, (h1, c1), (h2,) = stacked(X)  # Keras: one list per cell
    seq1, want_h1, want_c1 = first(X)
    want_out, want_h2 = second(seq1)
    for got, want in [(out, want_out), (h1, want_h1), (c1, want_c1), (h2, want_h2)]:
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_stacked_under_mask_equals_two_masked_layers():
    stacked, first, second = stacked_and_separate()
    out, (h1, c1), (h2,) = stacked(X, mask=MASK)
    seq1, want_h1, want_c1 = first(X, mask=MASK)
    want_out, want_h2 = second(seq1, mask=MASK)
    for got, want in [(out, want_out), (h1, want_h1), (c1, want_c1), (h2, want_h2)]:
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_stacked_initial_state_is_given_per_cell():
    stacked, first, second = stacked_and_separate()
    g = torch.Generator().manual_seed(3)
    h1, c1, h2 = (
        torch.randn(B, 4, generator=g),
        torch.randn(B, 4, generator=g),
        torch.randn(B, 3, generator=g),
    )
    out, _, _ = stacked(X, initial_state=[[h1, c1], h2])
    seq1, _, _ = first(X, initial_state=[h1, c1])
    want, _ = second(seq1, initial_state=[h2])
    torch.testing.assert_close(out, want, atol=1e-5, rtol=1e-5)


def test_single_cell_list_returns_that_cells_states_as_one_list():
    layer = unrolled.RNN([unrolled.LSTMCell(4)], return_state=True)
    out, (h, c) = layer(X)  # Keras 3.15: a list of cells gives one state list per cell
    torch.testing.assert_close(out, h)
    assert c.shape == (B, 4)
