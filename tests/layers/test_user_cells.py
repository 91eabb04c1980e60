"""User cells under `RNN`: a plain object and an `unrolled.Cell` subclass, against hand loops.

The cell is Keras's MinimalRNNCell from the RNN guide, written with torch:
    output = inputs @ kernel + prev_output @ recurrent_kernel
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import unrolled

B, T, F, U = 3, 6, 2, 4
X = torch.randn(B, T, F, generator=torch.Generator().manual_seed(0))


class PlainMinimalCell:
    """Not a torch module: weights given at construction, no build."""

    def __init__(self, kernel, recurrent_kernel):
        self.kernel, self.recurrent_kernel = kernel, recurrent_kernel
        self.state_size = kernel.shape[1]

    def call(self, inputs, states):
        output = inputs @ self.kernel + states[0] @ self.recurrent_kernel
        return output, [output]


class PlainBuildingCell:
    """Not a torch module, with Keras's build(input_shape): weights made at build time."""

    def __init__(self, units):
        self.units = units
        self.state_size = units

    def build(self, input_shape):
        g = torch.Generator().manual_seed(5)
        self.kernel = torch.rand(input_shape[-1], self.units, generator=g)
        self.recurrent_kernel = torch.rand(self.units, self.units, generator=g) * 0.3
        self.built = True

    def call(self, inputs, states):
        output = inputs @ self.kernel + states[0] @ self.recurrent_kernel
        return output, [output]


class MinimalRNNCell(unrolled.Cell):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units), "random_uniform")
        self.recurrent_kernel = self.add_weight(
            "recurrent_kernel", (self.units, self.units), "random_uniform"
        )
        self.built = True

    def call(self, inputs, states):
        output = inputs @ self.kernel + states[0] @ self.recurrent_kernel
        return output, [output]


class TwoStateCell(unrolled.Cell):
    """state_size as a list: a running sum and a running count of positive inputs."""

    state_size = [F, F]

    def build(self, input_shape):
        self.built = True

    def call(self, inputs, states):
        total, count = states
        total, count = total + inputs, count + (inputs > 0).float()
        return total, [total, count]


def hand_loop(kernel, recurrent_kernel, x, h0=None):
    kernel, recurrent_kernel, x = (
        np.asarray(a, dtype=np.float64) for a in (kernel, recurrent_kernel, x)
    )
    h = np.zeros((x.shape[0], kernel.shape[1])) if h0 is None else np.asarray(h0, np.float64)
    outs = []
    for t in range(x.shape[1]):
        h = x[:, t] @ kernel + h @ recurrent_kernel
        outs.append(h)
    return np.stack(outs, axis=1)


def test_plain_object_cell_matches_hand_loop():
    g = torch.Generator().manual_seed(1)
    kernel, recurrent = torch.randn(F, U, generator=g), torch.randn(U, U, generator=g) * 0.3
    layer = unrolled.RNN(PlainMinimalCell(kernel, recurrent), return_sequences=True)
    out = layer(X)
    np.testing.assert_allclose(out.numpy(), hand_loop(kernel, recurrent, X), rtol=1e-5, atol=1e-5)
    assert layer.last_path.name == "loop"
    assert layer.get_weights() == []


def test_plain_object_cell_with_build_is_built_before_first_step():
    cell = PlainBuildingCell(U)
    layer = unrolled.RNN(cell, return_sequences=True)
    out = layer(X)
    np.testing.assert_allclose(
        out.numpy(), hand_loop(cell.kernel, cell.recurrent_kernel, X), rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize("go_backwards", [False, True])
def test_cell_subclass_matches_hand_loop_and_trains(go_backwards):
    torch.manual_seed(2)
    layer = unrolled.RNN(
        MinimalRNNCell(U), return_sequences=True, return_state=True, go_backwards=go_backwards
    )
    h0 = torch.randn(B, U, generator=torch.Generator().manual_seed(3))
    out, h = layer(X, initial_state=[h0])
    kernel, recurrent = layer.get_weights()
    x = X.flip(1) if go_backwards else X
    want = hand_loop(kernel, recurrent, x, h0)
    np.testing.assert_allclose(out.detach().numpy(), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h.detach().numpy(), want[:, -1], rtol=1e-5, atol=1e-6)
    assert [w.shape for w in layer.get_weights()] == [(F, U), (U, U)]
    out.sum().backward()
    assert layer.cell.kernel.grad is not None and layer.cell.kernel.grad.abs().sum() > 0


def test_cell_subclass_under_mask_follows_keras_rule():
    torch.manual_seed(4)
    layer = unrolled.RNN(MinimalRNNCell(U), return_sequences=True)
    mask = torch.tensor(
        [[1, 1, 0, 0, 1, 0], [0, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 0]], dtype=torch.bool
    )
    out = layer(X, mask=mask).detach().numpy()
    kernel, recurrent = (w.astype(np.float64) for w in layer.get_weights())
    for row in range(B):
        h, last = np.zeros(U), np.zeros(U)
        for t in range(T):
            if mask[row, t]:
                h = X[row, t].numpy() @ kernel + h @ recurrent
                last = h
            np.testing.assert_allclose(out[row, t], last, rtol=1e-5, atol=1e-6)


def test_cell_with_list_state_size_returns_every_state():
    layer = unrolled.RNN(TwoStateCell(), return_state=True)
    out, total, count = layer(X)
    np.testing.assert_allclose(total.numpy(), X.sum(1).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(count.numpy(), (X > 0).sum(1).numpy())
    torch.testing.assert_close(out, total)


def test_object_without_call_or_state_size_is_refused():
    class NoStateSize:
        def call(self, inputs, states):
            return inputs, states

    with pytest.raises(unrolled.ConfigError, match="state_size"):
        unrolled.RNN(NoStateSize())
    with pytest.raises(unrolled.ConfigError, match="call"):
        unrolled.RNN(object())
