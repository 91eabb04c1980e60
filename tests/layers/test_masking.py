"""Keras masking on both paths (fused-packed and loop) against the NumPy reference.

Keras's rule: a masked step keeps every state and repeats the previous output (zeros
before the first valid step); `zero_output_for_mask=True` outputs zeros at masked steps;
`go_backwards` reverses input and mask and returns outputs in processing order.
"""

from __future__ import annotations

import functools

import numpy as np
import numpy_rnn
import pytest
import torch

import unrolled

T, F, U = 6, 3, 4
# One row per pattern, all in one batch.
MIXED_MASK = np.array(
    [
        [1, 1, 1, 1, 0, 0],  # post-padding
        [0, 0, 1, 1, 1, 1],  # pre-padding
        [1, 0, 1, 0, 0, 1],  # holes
        [0, 0, 0, 0, 0, 0],  # fully masked row
        [1, 1, 1, 1, 1, 1],  # all valid
    ],
    dtype=bool,
)
B = MIXED_MASK.shape[0]
TOL = {"atol": 1e-5, "rtol": 1e-5}
KINDS = ["lstm", "gru", "rnn_tanh", "rnn_relu"]


def make_layer(kind, use_cudnn="auto", seed=0, **kwargs):
    options = {"return_sequences": True, "return_state": True, "use_cudnn": use_cudnn, **kwargs}
    if kind == "lstm":
        layer = unrolled.LSTM(U, **options)
    elif kind.startswith("gru"):
        layer = unrolled.GRU(U, **options)
    else:
        layer = unrolled.SimpleRNN(U, activation=kind.split("_")[1], **options)
    layer.build((None, T, F))
    rng = np.random.default_rng(seed)
    layer.set_weights(
        [rng.uniform(-0.6, 0.6, w.shape).astype(np.float32) for w in layer.get_weights()]
    )
    return layer


def numpy_step(kind, layer):
    weights = [w.astype(np.float64) for w in layer.get_weights()]
    if kind == "lstm":
        return functools.partial(numpy_rnn.lstm_step, weights=weights)
    if kind.startswith("gru"):
        return functools.partial(numpy_rnn.gru_step, weights=weights, reset_after=layer.reset_after)
    return functools.partial(
        numpy_rnn.simple_rnn_step, weights=weights, activation=kind.split("_")[1]
    )


def inputs(batch=B, seed=1):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(batch, T, F)).astype(np.float32)


def state_count(kind):
    return 2 if kind == "lstm" else 1


def check(layer, kind, x, mask, initial=None, go_backwards=False, zero_output_for_mask=False):
    zeros = [np.zeros((x.shape[0], U))] * state_count(kind)
    want_out, want_states = numpy_rnn.run(
        numpy_step(kind, layer),
        x,
        zeros if initial is None else initial,
        mask,
        go_backwards=go_backwards,
        zero_output_for_mask=zero_output_for_mask,
    )
    initial_state = (
        None if initial is None else [torch.tensor(s, dtype=torch.float32) for s in initial]
    )
    out, *states = layer(
        torch.from_numpy(x), mask=torch.from_numpy(mask), initial_state=initial_state
    )
    np.testing.assert_allclose(out.detach().numpy(), want_out, **TOL)
    assert len(states) == len(want_states)
    for got, want in zip(states, want_states):
        np.testing.assert_allclose(got.detach().numpy(), want, **TOL)


@pytest.mark.parametrize("zero_output_for_mask", [False, True], ids=["repeat", "zero_output"])
@pytest.mark.parametrize("go_backwards", [False, True], ids=["forward", "backwards"])
@pytest.mark.parametrize("use_cudnn", ["auto", False], ids=["fused", "loop"])
@pytest.mark.parametrize("kind", KINDS)
def test_mixed_mask_patterns_match_numpy_keras_rule(
    kind, use_cudnn, go_backwards, zero_output_for_mask
):
    layer = make_layer(
        kind, use_cudnn, go_backwards=go_backwards, zero_output_for_mask=zero_output_for_mask
    )
    check(
        layer,
        kind,
        inputs(),
        MIXED_MASK,
        go_backwards=go_backwards,
        zero_output_for_mask=zero_output_for_mask,
    )
    assert layer.last_path.name == ("fused-packed" if use_cudnn == "auto" else "loop")


@pytest.mark.parametrize("use_cudnn", ["auto", False], ids=["fused", "loop"])
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_masked_steps_keep_given_initial_states(kind, use_cudnn):
    layer = make_layer(kind, use_cudnn)
    rng = np.random.default_rng(7)
    initial = [rng.normal(size=(B, U)) for _ in range(state_count(kind))]
    check(layer, kind, inputs(), MIXED_MASK, initial=initial)
    # the fully masked row (3) ends in exactly its initial states
    _, *states = layer(
        torch.from_numpy(inputs()),
        mask=torch.from_numpy(MIXED_MASK),
        initial_state=[torch.tensor(s, dtype=torch.float32) for s in initial],
    )
    for got, init in zip(states, initial):
        np.testing.assert_allclose(got[3].detach().numpy(), init[3], rtol=0, atol=1e-7)


@pytest.mark.parametrize("use_cudnn", ["auto", False], ids=["fused", "loop"])
@pytest.mark.parametrize(
    "pattern",
    [
        [1, 1, 1, 0, 0, 0],
        [0, 0, 0, 1, 1, 1],
        [0, 1, 0, 1, 0, 1],
        [0, 0, 0, 0, 0, 0],
        [1, 1, 1, 1, 1, 1],
    ],
    ids=["post_padding", "pre_padding", "holes", "all_masked", "all_valid"],
)
def test_same_pattern_on_every_row_matches_numpy(pattern, use_cudnn):
    mask = np.tile(np.array(pattern, dtype=bool), (3, 1))
    layer = make_layer("lstm", use_cudnn)
    check(layer, "lstm", inputs(batch=3), mask)


@pytest.mark.parametrize("use_cudnn", ["auto", False], ids=["fused", "loop"])
def test_masked_step_repeats_previous_output_and_zeros_before_first_valid(use_cudnn):
    layer = make_layer("gru", use_cudnn)
    out, _ = layer(torch.from_numpy(inputs()), mask=torch.from_numpy(MIXED_MASK))
    out = out.detach().numpy()
    np.testing.assert_array_equal(out[0, 4], out[0, 3])  # post-padding repeats
    np.testing.assert_array_equal(out[0, 5], out[0, 3])
    np.testing.assert_array_equal(out[1, :2], np.zeros((2, U)))  # before first valid step
    np.testing.assert_array_equal(out[2, 1], out[2, 0])  # a hole repeats
    np.testing.assert_array_equal(out[3], np.zeros((T, U)))  # fully masked row


@pytest.mark.parametrize("use_cudnn", ["auto", False], ids=["fused", "loop"])
def test_last_output_of_masked_row_is_output_of_its_last_valid_step(use_cudnn):
    layer = make_layer("lstm", use_cudnn, return_sequences=False, return_state=False)
    x = inputs()
    want, _ = numpy_rnn.run(numpy_step("lstm", layer), x, [np.zeros((B, U))] * 2, MIXED_MASK)
    out = layer(torch.from_numpy(x), mask=torch.from_numpy(MIXED_MASK))
    np.testing.assert_allclose(out.detach().numpy(), want[:, -1], **TOL)
    np.testing.assert_allclose(out[0].detach().numpy(), want[0, 3], **TOL)


@pytest.mark.parametrize("go_backwards", [False, True], ids=["forward", "backwards"])
@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "masked"])
def test_gru_reset_after_false_loop_matches_numpy(masked, go_backwards):
    layer = make_layer("gru", reset_after=False, go_backwards=go_backwards)
    assert layer.get_weights()[2].shape == (3 * U,)
    mask = MIXED_MASK if masked else np.ones((B, T), dtype=bool)
    check(layer, "gru", inputs(), mask, go_backwards=go_backwards)
    assert layer.last_path.name == "loop"


@pytest.mark.parametrize("go_backwards", [False, True], ids=["forward", "backwards"])
@pytest.mark.parametrize("kind", KINDS)
def test_fused_packed_gradients_equal_loop_gradients(kind, go_backwards):
    fused = make_layer(kind, "auto", go_backwards=go_backwards)
    loop = make_layer(kind, False, go_backwards=go_backwards)
    g = torch.Generator().manual_seed(3)
    w_out = torch.randn(B, T, U, generator=g)
    w_states = [torch.randn(B, U, generator=g) for _ in range(2)]
    initial = [torch.randn(B, U, generator=g) for _ in range(state_count(kind))]
    grads = []
    for layer in (fused, loop):
        x = torch.from_numpy(inputs()).requires_grad_()
        init = [s.clone().requires_grad_() for s in initial]
        out, *states = layer(x, mask=torch.from_numpy(MIXED_MASK), initial_state=init)
        loss = (out * w_out).sum() + sum((s * w).sum() for s, w in zip(states, w_states))
        loss.backward()
        grads.append([x.grad, *[s.grad for s in init], *[w.grad for w in layer.weights]])
    assert fused.last_path.name == "fused-packed" and loop.last_path.name == "loop"
    for got, want in zip(*grads):
        torch.testing.assert_close(got, want, **TOL)
    # masked steps do not influence anything: their input gradient is exactly zero
    x_grad = grads[0][0].numpy()
    np.testing.assert_array_equal(x_grad[~MIXED_MASK], 0.0)


def test_mask_given_as_numpy_floats_or_with_trailing_axis_equals_bool_mask():
    layer = make_layer("lstm")
    x = torch.from_numpy(inputs())
    want, *_ = layer(x, mask=torch.from_numpy(MIXED_MASK))
    got_float, *_ = layer(x, mask=MIXED_MASK.astype(np.float32))
    got_3d, *_ = layer(x, mask=torch.from_numpy(MIXED_MASK)[..., None])
    torch.testing.assert_close(got_float, want, rtol=0, atol=0)
    torch.testing.assert_close(got_3d, want, rtol=0, atol=0)
