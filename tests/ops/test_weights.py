"""`unrolled.ops.weights` against a layout mapping written here from the two documentations.

Keras: kernel (F, G*U), recurrent_kernel (U, G*U), gates side by side (LSTM i f c o,
GRU z r h). torch: weight_ih (G*U, F), weight_hh (G*U, U), gates stacked (LSTM i f g o,
GRU r z n), two biases.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unrolled.ops import weights
from unrolled.ops.cell_kinds import GRU, LSTM, SIMPLE_RNN

F, U = 3, 5


def swap_rz(a: np.ndarray, axis: int) -> np.ndarray:
    r, z, n = np.split(a, 3, axis=axis)
    return np.concatenate([z, r, n], axis=axis)


def expected_keras(module: torch.nn.RNNBase) -> list[np.ndarray]:
    w_ih = module.weight_ih_l0.detach().numpy()
    w_hh = module.weight_hh_l0.detach().numpy()
    b_ih = module.bias_ih_l0.detach().numpy()
    b_hh = module.bias_hh_l0.detach().numpy()
    if isinstance(module, torch.nn.GRU):
        return [
            swap_rz(w_ih.T, 1),
            swap_rz(w_hh.T, 1),
            np.stack([swap_rz(b_ih, 0), swap_rz(b_hh, 0)]),
        ]
    return [w_ih.T, w_hh.T, b_ih + b_hh]


@pytest.mark.parametrize(
    "module_class", [torch.nn.LSTM, torch.nn.GRU, torch.nn.RNN], ids=["lstm", "gru", "rnn"]
)
def test_keras_weights_from_torch_equals_hand_mapping(module_class):
    torch.manual_seed(0)
    module = module_class(F, U)
    got = weights.keras_weights_from_torch(module)
    want = expected_keras(module)
    assert [tuple(w.shape) for w in got] == [w.shape for w in want]
    for ours, theirs in zip(got, want):
        np.testing.assert_allclose(ours.numpy(), theirs, rtol=0, atol=1e-7)


def test_keras_weights_from_torch_without_bias_gives_two_arrays():
    module = torch.nn.LSTM(F, U, bias=False)
    got = weights.keras_weights_from_torch(module)
    assert len(got) == 2
    np.testing.assert_array_equal(got[0].numpy(), module.weight_ih_l0.detach().numpy().T)


@pytest.mark.parametrize("options", [{"num_layers": 2}, {"bidirectional": True}])
def test_keras_weights_from_torch_refuses_multi_layer_or_bidirectional(options):
    with pytest.raises(ValueError):
        weights.keras_weights_from_torch(torch.nn.LSTM(F, U, **options))


def test_gru_block_index_exchanges_first_two_blocks_and_is_its_own_inverse():
    swap = weights.block_index(GRU.torch_order, 2, torch.device("cpu"))
    assert swap.tolist() == [2, 3, 0, 1, 4, 5]
    assert swap[swap].tolist() == list(range(6))


def _keras(gates: int, with_bias_rows: bool = False):
    g = torch.Generator().manual_seed(3)
    kernel = torch.randn(F, gates * U, generator=g)
    recurrent = torch.randn(U, gates * U, generator=g)
    bias = (
        torch.randn(2, gates * U, generator=g)
        if with_bias_rows
        else torch.randn(gates * U, generator=g)
    )
    return kernel, recurrent, bias


def test_lstm_fused_params_are_torch_layout_with_zero_recurrent_bias():
    kernel, recurrent, bias = _keras(4)
    w_ih, w_hh, b_ih, b_hh = weights.fused_params(LSTM, kernel, recurrent, bias)
    np.testing.assert_array_equal(w_ih.numpy(), kernel.numpy().T)
    np.testing.assert_array_equal(w_hh.numpy(), recurrent.numpy().T)
    np.testing.assert_array_equal(b_ih.numpy(), bias.numpy())
    np.testing.assert_array_equal(b_hh.numpy(), np.zeros(4 * U))


def test_fused_params_without_bias_are_two_tensors():
    kernel, recurrent, _ = _keras(1)
    assert len(weights.fused_params(SIMPLE_RNN, kernel, recurrent, None)) == 2
    kernel, recurrent, _ = _keras(3)
    assert len(weights.fused_params(GRU, kernel, recurrent, None)) == 2


def test_gru_fused_params_are_torch_r_z_n_order():
    kernel, recurrent, bias = _keras(3, with_bias_rows=True)
    w_ih, w_hh, b_ih, b_hh = weights.fused_params(GRU, kernel, recurrent, bias)
    np.testing.assert_array_equal(w_ih.numpy(), swap_rz(kernel.numpy(), 1).T)
    np.testing.assert_array_equal(w_hh.numpy(), swap_rz(recurrent.numpy(), 1).T)
    np.testing.assert_array_equal(b_ih.numpy(), swap_rz(bias.numpy()[0], 0))
    np.testing.assert_array_equal(b_hh.numpy(), swap_rz(bias.numpy()[1], 0))


def test_fused_params_carry_gradient_back_to_keras_weights():
    kernel, recurrent, bias = (w.requires_grad_() for w in _keras(3, with_bias_rows=True))
    w_ih, w_hh, b_ih, b_hh = weights.fused_params(GRU, kernel, recurrent, bias)
    # d/dW of sum(W * C) is C: the grad on the Keras kernel is C mapped back to Keras layout.
    c = torch.arange(w_ih.numel(), dtype=torch.float32).reshape(w_ih.shape)
    (w_ih * c).sum().backward()
    np.testing.assert_array_equal(kernel.grad.numpy(), swap_rz(c.numpy().T, 1))
