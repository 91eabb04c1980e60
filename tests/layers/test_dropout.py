"""Variational dropout: one mask per (sample, feature) per call, reused at every timestep.

Layers are built so that the mask can be read off the output in closed form:
SimpleRNN with activation relu, kernel = identity, recurrent kernel = 0 and no bias gives
out_t = relu(x_t * m) = x_t * m for positive x, so out_t / x_t is the mask itself.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import unrolled

PATHS = ["auto", False]
PATH_IDS = ["fused", "loop"]


def identity_rnn(units, use_cudnn="auto", **kwargs):
    layer = unrolled.SimpleRNN(
        units,
        activation="relu",
        use_bias=False,
        return_sequences=True,
        use_cudnn=use_cudnn,
        **kwargs,
    )
    layer.set_weights([np.eye(units, dtype=np.float32), np.zeros((units, units), np.float32)])
    return layer


def positive_inputs(batch, steps, features, seed=0):
    g = torch.Generator().manual_seed(seed)
    return 0.5 + torch.rand(batch, steps, features, generator=g)


@pytest.mark.parametrize("use_cudnn", PATHS, ids=PATH_IDS)
def test_same_input_mask_is_used_at_every_timestep(use_cudnn):
    layer = identity_rnn(6, use_cudnn, dropout=0.5, seed=1)
    x = positive_inputs(32, 7, 6)
    out = layer(x, training=True)
    assert layer.last_path.name == ("fused" if use_cudnn == "auto" else "loop")
    ratio = (out / x).detach().numpy()  # (B, T, F): the mask, per step
    mask = ratio[:, 0]
    np.testing.assert_allclose(ratio, np.repeat(mask[:, None], 7, axis=1), rtol=1e-6, atol=1e-6)
    assert set(np.round(mask, 5).ravel().tolist()) == {0.0, 2.0}  # kept values scaled by 1/(1-0.5)
    assert len({tuple(row) for row in mask.tolist()}) > 1  # drawn per sample, not per batch


@pytest.mark.parametrize("use_cudnn", PATHS, ids=PATH_IDS)
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_gated_layer_in_training_equals_no_dropout_layer_on_x_times_one_fixed_mask(kind, use_cudnn):
    # Two features, so each sample's mask is one of four; exactly one must explain the
    # whole sequence, which proves the mask is the same at every step.
    cls = unrolled.LSTM if kind == "lstm" else unrolled.GRU
    dropped = cls(3, dropout=0.5, seed=3, return_sequences=True, use_cudnn=use_cudnn)
    plain = cls(3, return_sequences=True, use_cudnn=use_cudnn)
    dropped.build((None, 5, 2))
    rng = np.random.default_rng(0)
    weights = [rng.uniform(-1, 1, w.shape).astype(np.float32) for w in dropped.get_weights()]
    dropped.set_weights(weights)
    plain.set_weights(weights)
    x = torch.randn(16, 5, 2, generator=torch.Generator().manual_seed(4))
    out = dropped(x, training=True)
    seen = set()
    for row in range(16):
        matches = []
        for m in itertools.product([0.0, 2.0], repeat=2):
            candidate = plain(x[row : row + 1] * torch.tensor(m), training=False)
            if torch.allclose(candidate[0], out[row], atol=1e-5, rtol=1e-5):
                matches.append(m)
        assert len(matches) == 1, f"row {row}: no single per-feature mask explains the output"
        seen.add(matches[0])
    assert len(seen) > 1


def test_recurrent_dropout_mask_is_fixed_across_timesteps():
    # kernel 0, recurrent kernel I, relu: h_t = relu(h_{t-1} * m) = h0 * m**t for h0 > 0.
    units, steps = 6, 4
    layer = unrolled.SimpleRNN(
        units,
        activation="relu",
        use_bias=False,
        return_sequences=True,
        recurrent_dropout=0.5,
        seed=5,
    )
    layer.set_weights([np.zeros((1, units), np.float32), np.eye(units, dtype=np.float32)])
    h0 = 0.5 + torch.rand(20, units, generator=torch.Generator().manual_seed(6))
    out = layer(torch.zeros(20, steps, 1), initial_state=[h0], training=True)
    assert layer.last_path.name == "loop"
    m = (out[:, 0] / h0).detach().numpy()
    assert set(np.round(m, 5).ravel().tolist()) == {0.0, 2.0}
    for t in range(steps):
        np.testing.assert_allclose(out[:, t].detach().numpy(), h0.numpy() * m ** (t + 1), rtol=1e-5)


@pytest.mark.parametrize("use_cudnn", PATHS, ids=PATH_IDS)
@pytest.mark.parametrize("cls", [unrolled.LSTM, unrolled.GRU, unrolled.SimpleRNN])
def test_dropout_is_inactive_outside_training(cls, use_cudnn):
    dropped = cls(4, dropout=0.5, recurrent_dropout=0.5, return_sequences=True, use_cudnn=use_cudnn)
    plain = cls(4, return_sequences=True, use_cudnn=use_cudnn)
    x = torch.randn(3, 6, 2, generator=torch.Generator().manual_seed(7))
    dropped.build((None, 6, 2))
    plain.set_weights(dropped.get_weights())
    torch.testing.assert_close(dropped(x, training=False), plain(x, training=False), rtol=0, atol=0)
    dropped.eval()
    torch.testing.assert_close(dropped(x), plain(x), rtol=0, atol=0)


@pytest.mark.parametrize("use_cudnn", PATHS, ids=PATH_IDS)
@pytest.mark.parametrize("cls", [unrolled.LSTM, unrolled.GRU, unrolled.SimpleRNN])
def test_seed_makes_two_layers_with_identical_weights_drop_identically(cls, use_cudnn):
    x = torch.randn(8, 5, 3, generator=torch.Generator().manual_seed(8))
    a = cls(4, dropout=0.4, recurrent_dropout=0.3, seed=11, use_cudnn=use_cudnn)
    b = cls(4, dropout=0.4, recurrent_dropout=0.3, seed=11, use_cudnn=use_cudnn)
    c = cls(4, dropout=0.4, recurrent_dropout=0.3, seed=12, use_cudnn=use_cudnn)
    a.build((None, 5, 3))
    b.set_weights(a.get_weights())
    c.set_weights(a.get_weights())
    out_a, out_b, out_c = (layer(x, training=True) for layer in (a, b, c))
    torch.testing.assert_close(out_a, out_b, rtol=0, atol=0)
    assert not torch.equal(out_a, out_c)
    no_dropout = a(x, training=False)
    assert not torch.equal(out_a, no_dropout)


def test_each_call_draws_a_fresh_mask():
    layer = identity_rnn(8, dropout=0.5, seed=2)
    x = positive_inputs(16, 3, 8)
    first = (layer(x, training=True) / x)[:, 0]
    second = (layer(x, training=True) / x)[:, 0]
    assert not torch.equal(first, second)


@pytest.mark.parametrize("use_cudnn", PATHS, ids=PATH_IDS)
@pytest.mark.parametrize("rate", [0.2, 0.5])
def test_inverted_dropout_keeps_expected_value(rate, use_cudnn):
    torch.manual_seed(0)
    layer = identity_rnn(16, use_cudnn, dropout=rate, seed=9)
    x = torch.ones(2000, 1, 16)
    mask = layer(x, training=True).detach().numpy()
    kept = 1.0 / (1.0 - rate)
    assert set(np.round(mask, 4).ravel().tolist()) <= {0.0, round(kept, 4)}
    assert abs(mask.mean() - 1.0) < 0.03  # 32000 draws: std of the mean is well under 0.01
    assert abs((mask == 0).mean() - rate) < 0.02


def test_rate_of_exactly_one_is_ignored_like_keras():
    layer = identity_rnn(4, dropout=1.0)
    x = positive_inputs(3, 2, 4)
    torch.testing.assert_close(layer(x, training=True), x, rtol=1e-6, atol=1e-6)
