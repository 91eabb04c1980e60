"""Our layers against torch.nn.LSTM / GRU / RNN with the weights mapped by hand.

The mapping here is written independently of `unrolled.ops.weights`:
    LSTM  kernel = weight_ih.T (gates i, f, g, o in the same order), bias = b_ih + b_hh
    RNN   kernel = weight_ih.T, bias = b_ih + b_hh
    GRU   Keras z, r, h vs torch r, z, n: swap the first two blocks; the
          reset_after=True bias is the two rows (b_ih, b_hh), each swapped.
Both our paths are checked: `use_cudnn="auto"` (fused) and `use_cudnn=False` (loop).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import unrolled

B, T, F, U = 3, 5, 4, 6
TOL = {"atol": 1e-5, "rtol": 1e-5}

KINDS = ["lstm", "gru", "rnn_tanh", "rnn_relu"]
PATHS = {"auto": "fused", False: "loop"}


def torch_module(kind: str, bias: bool = True) -> torch.nn.RNNBase:
    if kind == "lstm":
        return torch.nn.LSTM(F, U, batch_first=True, bias=bias)
    if kind == "gru":
        return torch.nn.GRU(F, U, batch_first=True, bias=bias)
    return torch.nn.RNN(F, U, batch_first=True, bias=bias, nonlinearity=kind.split("_")[1])


def our_layer(kind: str, use_cudnn, **kwargs) -> unrolled.RNN:
    if kind == "lstm":
        return unrolled.LSTM(U, use_cudnn=use_cudnn, **kwargs)
    if kind == "gru":
        return unrolled.GRU(U, use_cudnn=use_cudnn, **kwargs)
    return unrolled.SimpleRNN(U, activation=kind.split("_")[1], use_cudnn=use_cudnn, **kwargs)


def swap_rz(a: np.ndarray, axis: int) -> np.ndarray:
    """torch r, z, n blocks <-> Keras z, r, h blocks along `axis` (its own inverse)."""
    r, z, n = np.split(a, 3, axis=axis)
    return np.concatenate([z, r, n], axis=axis)


def keras_layout(kind: str, w_ih, w_hh, b_ih=None, b_hh=None) -> list[np.ndarray]:
    """torch (G*U, F), (G*U, U), (G*U,), (G*U,) arrays -> Keras [kernel, recurrent_kernel, bias]."""
    w_ih, w_hh = np.asarray(w_ih), np.asarray(w_hh)
    if kind == "gru":
        weights = [swap_rz(w_ih.T, 1), swap_rz(w_hh.T, 1)]
        if b_ih is not None:
            weights.append(np.stack([swap_rz(np.asarray(b_ih), 0), swap_rz(np.asarray(b_hh), 0)]))
        return weights
    weights = [w_ih.T, w_hh.T]
    if b_ih is not None:
        weights.append(np.asarray(b_ih) + np.asarray(b_hh))
    return weights


def mapped_pair(kind: str, use_cudnn, bias: bool = True, **kwargs):
    torch.manual_seed(0)
    module = torch_module(kind, bias)
    layer = our_layer(
        kind, use_cudnn, use_bias=bias, return_sequences=True, return_state=True, **kwargs
    )
    with torch.no_grad():  # make the two torch biases differ from each other visibly
        for p in module.parameters():
            p.uniform_(-0.6, 0.6)
    params = [p.detach().numpy() for p in module.parameters()]
    layer.set_weights(keras_layout(kind, *params))
    return module, layer


def run_torch(module, kind, x, initial):
    if initial is None:
        out, hidden = module(x)
    elif kind == "lstm":
        out, hidden = module(x, (initial[0].unsqueeze(0), initial[1].unsqueeze(0)))
    else:
        out, hidden = module(x, initial[0].unsqueeze(0))
    states = [s.squeeze(0) for s in hidden] if kind == "lstm" else [hidden.squeeze(0)]
    return out, states


def make_inputs(kind, with_initial, requires_grad=False):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(B, T, F, generator=g).requires_grad_(requires_grad)
    if not with_initial:
        return x, None
    count = 2 if kind == "lstm" else 1
    initial = [torch.randn(B, U, generator=g).requires_grad_(requires_grad) for _ in range(count)]
    return x, initial


@pytest.mark.parametrize("with_initial", [False, True], ids=["zero_state", "initial_state"])
@pytest.mark.parametrize("use_cudnn", list(PATHS), ids=["auto", "loop"])
@pytest.mark.parametrize("kind", KINDS)
def test_outputs_and_final_states_equal_torch(kind, use_cudnn, with_initial):
    module, layer = mapped_pair(kind, use_cudnn)
    x, initial = make_inputs(kind, with_initial)
    expected_out, expected_states = run_torch(module, kind, x, initial)
    out, *states = layer(x, initial_state=initial)
    assert layer.last_path.name == PATHS[use_cudnn]
    torch.testing.assert_close(out, expected_out, **TOL)
    assert len(states) == len(expected_states)
    for got, want in zip(states, expected_states):
        torch.testing.assert_close(got, want, **TOL)


@pytest.mark.parametrize("use_cudnn", list(PATHS), ids=["auto", "loop"])
@pytest.mark.parametrize("kind", KINDS)
def test_without_bias_equals_torch_without_bias(kind, use_cudnn):
    module, layer = mapped_pair(kind, use_cudnn, bias=False)
    x, _ = make_inputs(kind, False)
    expected_out, _ = run_torch(module, kind, x, None)
    out, *_ = layer(x)
    assert len(layer.get_weights()) == 2
    torch.testing.assert_close(out, expected_out, **TOL)


@pytest.mark.parametrize("use_cudnn", list(PATHS), ids=["auto", "loop"])
@pytest.mark.parametrize("kind", KINDS)
def test_go_backwards_equals_torch_on_reversed_input(kind, use_cudnn):
    module, layer = mapped_pair(kind, use_cudnn, go_backwards=True)
    x, _ = make_inputs(kind, False)
    expected_out, expected_states = run_torch(module, kind, x.flip(1), None)
    out, *states = layer(x)
    torch.testing.assert_close(out, expected_out, **TOL)  # processing order
    for got, want in zip(states, expected_states):
        torch.testing.assert_close(got, want, **TOL)


@pytest.mark.parametrize("use_cudnn", list(PATHS), ids=["auto", "loop"])
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_last_output_without_return_sequences_is_torch_last_step(kind, use_cudnn):
    torch.manual_seed(0)
    module = torch_module(kind)
    layer = our_layer(kind, use_cudnn)
    layer.set_weights(keras_layout(kind, *[p.detach().numpy() for p in module.parameters()]))
    x, _ = make_inputs(kind, False)
    expected, _ = run_torch(module, kind, x, None)
    out = layer(x)
    assert isinstance(out, torch.Tensor) and out.shape == (B, U)
    torch.testing.assert_close(out, expected[:, -1], **TOL)


@pytest.mark.parametrize("with_initial", [False, True], ids=["zero_state", "initial_state"])
@pytest.mark.parametrize("use_cudnn", list(PATHS), ids=["auto", "loop"])
@pytest.mark.parametrize("kind", KINDS)
def test_gradients_equal_torch_gradients_in_keras_layout(kind, use_cudnn, with_initial):
    module, layer = mapped_pair(kind, use_cudnn)
    x_torch, init_torch = make_inputs(kind, with_initial, requires_grad=True)
    x_ours, init_ours = make_inputs(kind, with_initial, requires_grad=True)
    g = torch.Generator().manual_seed(2)
    w_out = torch.randn(B, T, U, generator=g)
    w_states = [torch.randn(B, U, generator=g) for _ in range(2)]

    def loss(out, states):
        return (out * w_out).sum() + sum((s * w).sum() for s, w in zip(states, w_states))

    out_t, states_t = run_torch(module, kind, x_torch, init_torch)
    loss(out_t, states_t).backward()
    out_o, *states_o = layer(x_ours, initial_state=init_ours)
    loss(out_o, states_o).backward()

    torch.testing.assert_close(x_ours.grad, x_torch.grad, **TOL)
    if with_initial:
        for ours, theirs in zip(init_ours, init_torch):
            torch.testing.assert_close(ours.grad, theirs.grad, **TOL)
    torch_grads = [p.grad.numpy() for p in module.parameters()]
    if kind != "gru":  # d/d(bias) of b_ih + b_hh is the grad of either torch bias
        np.testing.assert_allclose(torch_grads[2], torch_grads[3], rtol=1e-5, atol=1e-6)
        torch_grads[3] = np.zeros_like(torch_grads[3])
    expected = keras_layout(kind, *torch_grads)
    got = [w.grad.numpy() for w in layer.weights]
    assert len(got) == len(expected) == 3
    for ours, theirs in zip(got, expected):
        np.testing.assert_allclose(ours, theirs, **TOL)
