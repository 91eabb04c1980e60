"""`stateful=True`: row i of each batch continues row i of the previous one.

Oracles: the same weights run statelessly on the whole sequence, and torch.nn.LSTM.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import unrolled

B, T, F, U = 4, 12, 3, 5
CHUNK = 4
TOL = {"atol": 1e-6, "rtol": 1e-6}
X = torch.randn(B, T, F, generator=torch.Generator().manual_seed(0))


def make(kind, **kwargs):
    cls = {"lstm": unrolled.LSTM, "gru": unrolled.GRU, "simple_rnn": unrolled.SimpleRNN}[kind]
    return cls(U, return_sequences=True, return_state=True, **kwargs)


def pair(kind, **kwargs):
    """A stateful layer and a stateless one with identical (random, nonzero-bias) weights."""
    stateful = make(kind, stateful=True, **kwargs)
    stateful.build((B, T, F))
    rng = np.random.default_rng(1)
    weights = [rng.uniform(-0.5, 0.5, w.shape).astype(np.float32) for w in stateful.get_weights()]
    stateful.set_weights(weights)
    stateless = make(kind, **kwargs)
    stateless.set_weights(weights)
    return stateful, stateless


@pytest.mark.parametrize("use_cudnn", ["auto", False], ids=["fused", "loop"])
@pytest.mark.parametrize("kind", ["lstm", "gru", "simple_rnn"])
def test_chunked_stateful_run_equals_one_stateless_run(kind, use_cudnn):
    stateful, stateless = pair(kind, use_cudnn=use_cudnn)
    want_out, *want_states = stateless(X)
    outs = []
    for start in range(0, T, CHUNK):
        out, *states = stateful(X[:, start : start + CHUNK])
        outs.append(out)
    torch.testing.assert_close(torch.cat(outs, dim=1), want_out, **TOL)
    for got, want in zip(states, want_states):
        torch.testing.assert_close(got, want, **TOL)
    for kept, want in zip(stateful.get_states(), want_states):
        np.testing.assert_allclose(kept, want.detach().numpy(), **TOL)


def test_lazily_built_stateful_layer_takes_batch_size_from_first_call():
    layer = unrolled.LSTM(U, stateful=True)
    layer(X[:, :CHUNK])
    assert [s.shape for s in layer.get_states()] == [(B, U), (B, U)]


@pytest.mark.parametrize("method", ["reset_states", "reset_state"])
def test_reset_states_zeros_states_and_next_call_equals_fresh_stateless_call(method):
    stateful, stateless = pair("lstm")
    stateful(X[:, :CHUNK])
    assert any(np.abs(s).max() > 0 for s in stateful.get_states())
    getattr(stateful, method)()
    for s in stateful.get_states():
        np.testing.assert_array_equal(s, np.zeros((B, U)))
    got, *_ = stateful(X[:, CHUNK:])
    want, *_ = stateless(X[:, CHUNK:])
    torch.testing.assert_close(got, want, rtol=0, atol=0)


@pytest.mark.parametrize("use_cudnn", ["auto", False], ids=["fused", "loop"])
def test_states_carry_no_autograd_history_across_calls(use_cudnn):
    layer = unrolled.LSTM(U, stateful=True, use_cudnn=use_cudnn)
    first = X[:, :CHUNK].clone().requires_grad_()
    second = X[:, CHUNK:].clone().requires_grad_()
    layer(first)
    layer(second).sum().backward()
    assert first.grad is None
    assert second.grad is not None
    assert layer.cell.kernel.grad is not None
    for s in layer.get_states():
        assert np.isfinite(s).all()
    assert all(not getattr(layer, n).requires_grad for n in ("state_0", "state_1"))


def _torch_lstm_and_layer():
    torch.manual_seed(2)
    module = torch.nn.LSTM(F, U, batch_first=True)
    layer = unrolled.LSTM(U, stateful=True)
    w_ih, w_hh, b_ih, b_hh = (p.detach().numpy() for p in module.parameters())
    layer.set_weights([w_ih.T, w_hh.T, b_ih + b_hh])  # Keras layout, gates i f g o in both
    return module, layer


def test_get_states_are_torch_lstm_final_h_and_c():
    module, layer = _torch_lstm_and_layer()
    layer(X)
    _, (h_n, c_n) = module(X)
    h, c = layer.get_states()
    np.testing.assert_allclose(h, h_n[0].detach().numpy(), atol=1e-6)
    np.testing.assert_allclose(c, c_n[0].detach().numpy(), atol=1e-6)


def test_set_states_then_call_equals_torch_lstm_from_those_states():
    module, layer = _torch_lstm_and_layer()
    g = torch.Generator().manual_seed(3)
    h0, c0 = torch.randn(B, U, generator=g), torch.randn(B, U, generator=g)
    layer.set_states([h0.numpy(), c0.numpy()])
    got_h, got_c = layer.get_states()
    np.testing.assert_array_equal(got_h, h0.numpy())
    np.testing.assert_array_equal(got_c, c0.numpy())
    out = layer(X)
    _, (h_n, c_n) = module(X, (h0[None], c0[None]))
    torch.testing.assert_close(out, h_n[0], atol=1e-6, rtol=1e-6)
    h, c = layer.get_states()
    np.testing.assert_allclose(c, c_n[0].detach().numpy(), atol=1e-6)


def test_set_states_with_wrong_shapes_raises_shape_error():
    _, layer = _torch_lstm_and_layer()
    with pytest.raises(unrolled.ShapeError):
        layer.set_states([np.zeros((B, U))])
    with pytest.raises(unrolled.ShapeError):
        layer.set_states([np.zeros((B, U + 1)), np.zeros((B, U + 1))])


def test_get_states_on_stateless_layer_raises_config_error():
    layer = unrolled.LSTM(U)
    layer(X)
    with pytest.raises(unrolled.ConfigError, match="not stateful"):
        layer.get_states()


def test_other_batch_size_raises_shape_error_naming_both_sizes():
    layer = unrolled.GRU(U, stateful=True)
    layer(X)
    with pytest.raises(unrolled.ShapeError) as info:
        layer(X[:3])
    message = str(info.value)
    assert "stateful" in message and str(B) in message and "3" in message
    assert not isinstance(info.value, RuntimeError)


def test_reset_states_with_batch_size_accepts_the_new_size():
    layer = unrolled.GRU(U, stateful=True, return_state=True)
    layer(X)
    layer.reset_states(batch_size=3)
    out, h = layer(X[:3])
    assert out.shape == (3, U)
    np.testing.assert_allclose(layer.get_states()[0], h.detach().numpy(), atol=0)


@pytest.mark.parametrize("use_cudnn", ["auto", False], ids=["fused", "loop"])
def test_fully_masked_chunk_leaves_stateful_states_unchanged(use_cudnn):
    layer = unrolled.LSTM(U, stateful=True, use_cudnn=use_cudnn)
    layer(X[:, :CHUNK])
    before = layer.get_states()
    layer(X[:, CHUNK : 2 * CHUNK], mask=torch.zeros(B, CHUNK, dtype=torch.bool))
    for got, want in zip(layer.get_states(), before):
        np.testing.assert_array_equal(got, want)


def test_partly_masked_chunk_keeps_masked_rows_states_only():
    stateful, stateless = pair("gru")
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[0, CHUNK : 2 * CHUNK] = False  # row 0 skips the whole second chunk
    want, *want_states = stateless(X, mask=mask)
    outs = [
        stateful(X[:, s : s + CHUNK], mask=mask[:, s : s + CHUNK])[0] for s in range(0, T, CHUNK)
    ]
    # Outputs over the masked chunk are per call (zeros before a call's first valid step),
    # so the states and the fully valid last chunk are what must agree.
    for got, want_s in zip(stateful.get_states(), want_states):
        np.testing.assert_allclose(got, want_s.detach().numpy(), **TOL)
    torch.testing.assert_close(outs[2], want[:, 2 * CHUNK :], **TOL)


def test_batch_input_shape_builds_eagerly_with_a_deprecation_warning():
    with pytest.warns(DeprecationWarning, match="batch_input_shape"):
        layer = unrolled.LSTM(U, stateful=True, batch_input_shape=(2, 5, 3))
    assert layer.built
    kernel, recurrent, bias = layer.get_weights()
    assert kernel.shape == (3, 4 * U) and recurrent.shape == (U, 4 * U) and bias.shape == (4 * U,)
    for s in layer.get_states():
        np.testing.assert_array_equal(s, np.zeros((2, U)))
    with pytest.raises(unrolled.ShapeError, match="stateful"):
        layer(torch.zeros(3, 5, 3))
    assert layer(torch.zeros(2, 5, 3)).shape == (2, U)
