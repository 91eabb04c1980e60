"""Keras's default initialization and parameter counts, against closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import unrolled

F, U = 7, 16  # 4 * U > F, so the recurrent block (U, 4U) is wide

GATES = {unrolled.LSTM: 4, unrolled.GRU: 3, unrolled.SimpleRNN: 1}


def built(cls, **kwargs):
    layer = cls(U, **kwargs)
    layer.build((None, 5, F))
    return layer


@pytest.mark.parametrize("cls", list(GATES), ids=lambda c: c.__name__)
def test_kernel_is_glorot_uniform_over_input_and_gate_units(cls):
    torch.manual_seed(0)
    kernel = built(cls).get_weights()[0]
    gates = GATES[cls]
    assert kernel.shape == (F, gates * U)
    limit = math.sqrt(6.0 / (F + gates * U))  # fan_in = features, fan_out = gates * units
    assert np.abs(kernel).max() <= limit
    assert np.abs(kernel).max() > 0.9 * limit  # the full range is used
    assert abs(kernel.var() - limit**2 / 3) < 0.25 * limit**2 / 3  # uniform variance


@pytest.mark.parametrize("cls", list(GATES), ids=lambda c: c.__name__)
def test_recurrent_kernel_rows_are_orthonormal(cls):
    torch.manual_seed(1)
    recurrent = built(cls).get_weights()[1].astype(np.float64)
    assert recurrent.shape == (U, GATES[cls] * U)
    np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(U), atol=1e-5)


def test_lstm_bias_is_zero_except_forget_gate_ones():
    bias = built(unrolled.LSTM).get_weights()[2]
    expected = np.concatenate([np.zeros(U), np.ones(U), np.zeros(2 * U)])
    np.testing.assert_array_equal(bias, expected)


def test_lstm_without_unit_forget_bias_has_zero_bias():
    bias = built(unrolled.LSTM, unit_forget_bias=False).get_weights()[2]
    np.testing.assert_array_equal(bias, np.zeros(4 * U))


def test_lstm_unit_forget_bias_uses_bias_initializer_for_other_gates():
    bias = built(unrolled.LSTM, bias_initializer="ones").get_weights()[2]
    np.testing.assert_array_equal(bias, np.ones(4 * U))


def test_gru_bias_shape_depends_on_reset_after():
    np.testing.assert_array_equal(built(unrolled.GRU).get_weights()[2], np.zeros((2, 3 * U)))
    np.testing.assert_array_equal(
        built(unrolled.GRU, reset_after=False).get_weights()[2], np.zeros(3 * U)
    )


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda: unrolled.LSTM(U), 4 * (U * (F + U) + U)),
        (lambda: unrolled.LSTM(U, use_bias=False), 4 * U * (F + U)),
        (lambda: unrolled.GRU(U), 3 * U * (F + U) + 2 * 3 * U),
        (lambda: unrolled.GRU(U, reset_after=False), 3 * U * (F + U) + 3 * U),
        (lambda: unrolled.SimpleRNN(U), U * (F + U) + U),
    ],
    ids=["lstm", "lstm_no_bias", "gru_reset_after", "gru_reset_before", "simple_rnn"],
)
def test_count_params_matches_closed_form(make, expected):
    layer = make()
    layer.build((None, 5, F))
    assert layer.count_params() == expected
    assert sum(p.numel() for p in layer.parameters()) == expected


def test_count_params_on_unbuilt_layer_raises_config_error():
    with pytest.raises(unrolled.ConfigError, match="not built"):
        unrolled.LSTM(U).count_params()


@pytest.mark.parametrize("cls", list(GATES), ids=lambda c: c.__name__)
def test_torch_manual_seed_makes_initialization_repeatable(cls):
    torch.manual_seed(123)
    first = built(cls).get_weights()
    torch.manual_seed(123)
    second = built(cls).get_weights()
    torch.manual_seed(124)
    third = built(cls).get_weights()
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], third[0])


def test_named_initializers_are_applied_to_their_weights():
    layer = built(
        unrolled.SimpleRNN,
        kernel_initializer="ones",
        recurrent_initializer="identity",
        bias_initializer="zeros",
    )
    kernel, recurrent, bias = layer.get_weights()
    np.testing.assert_array_equal(kernel, np.ones((F, U)))
    np.testing.assert_array_equal(recurrent, np.eye(U))
    np.testing.assert_array_equal(bias, np.zeros(U))


def test_callable_initializer_receives_keras_shape():
    shapes = []

    def init(shape):
        shapes.append(tuple(shape))
        return np.full(shape, 0.25, dtype=np.float32)

    layer = built(unrolled.GRU, kernel_initializer=init)
    assert shapes == [(F, 3 * U)]
    np.testing.assert_array_equal(layer.get_weights()[0], np.full((F, 3 * U), 0.25))


def test_unit_forget_bias_with_callable_bias_initializer_returning_numpy():
    # initializers may return arrays (Keras's contract); the forget block is still ones
    layer = built(unrolled.LSTM, bias_initializer=lambda shape: np.full(shape, 0.5, np.float32))
    expected = np.concatenate([np.full(U, 0.5), np.ones(U), np.full(2 * U, 0.5)])
    np.testing.assert_array_equal(layer.get_weights()[2], expected)
