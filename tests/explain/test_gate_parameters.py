"""Per-gate slices add up to the layer's own parameter count, for every cell family."""

from __future__ import annotations

import pytest

import unrolled as U
from unrolled import topologies
from unrolled.explain import gate_parameters, layer_gates


def _built(layer, features=3, steps=5):
    layer.build((None, steps, features))
    return layer


def test_lstm_is_one_block_of_units_cells_with_four_gates():
    layer = _built(U.LSTM(16))
    gates = gate_parameters(layer)
    assert [g.gate for g in gates] == ["input", "forget", "cell", "output"]
    assert all(
        g.kernel == (3, 16) and g.recurrent_kernel == (16, 16) and g.bias == 16 for g in gates
    )
    assert [g.columns for g in gates] == [(0, 16), (16, 32), (32, 48), (48, 64)]
    assert sum(g.total for g in gates) == layer.count_params() == 4 * (16 * (3 + 16) + 16)
    (group,) = layer_gates(layer)
    assert group.formula == "4 * (units * (features + units) + units)"
    assert group.numbers == "4 * (16 * (3 + 16) + 16) = 1280"
    assert gates[1].slices() == (
        "kernel[:, 16:32] 3x16=48 + recurrent_kernel[:, 16:32] 16x16=256 + bias[16:32] 16 = 320"
    )
    assert "one block of 16 cells, not 16 blocks of 1 cell" in group.sentence(30)
    assert "4 gates (input, forget, cell, output)" in group.sentence()


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_has_three_gates_and_two_biases_with_reset_after(reset_after):
    layer = _built(U.GRU(8, reset_after=reset_after), features=4)
    gates = gate_parameters(layer)
    assert [g.gate for g in gates] == ["update", "reset", "candidate"]
    assert {g.bias for g in gates} == {16 if reset_after else 8}
    assert sum(g.total for g in gates) == layer.count_params()
    (group,) = layer_gates(layer)
    if reset_after:
        assert group.formula == "3 * (units * (features + units) + 2 * units)"
        assert group.numbers == "3 * (8 * (4 + 8) + 2 * 8) = 336"
        assert "bias[:, 0:8] 16" in gates[0].slices(group.bias_rows)
        assert "2 biases (input and recurrent" in group.sentence()
    else:
        assert group.formula == "3 * (units * (features + units) + units)"
        assert group.numbers == "3 * (8 * (4 + 8) + 8) = 312"


def test_simple_rnn_has_no_gates_and_no_bias_without_use_bias():
    layer = _built(U.SimpleRNN(5, use_bias=False), features=2)
    (group,) = layer_gates(layer)
    assert group.formula == "units * (features + units)"
    assert group.numbers == "5 * (2 + 5) = 35" and group.total == layer.count_params()
    assert "no gates" in group.sentence()


def test_bidirectional_halves_and_whole_models():
    model = topologies.many_to_one(timesteps=7, features=3, units=[6, 4], bidirectional=True)
    groups = layer_gates(model)
    assert [g.layer.split("/")[1].rstrip("_0123456789") for g in groups] == [
        "forward_lstm",
        "backward_lstm",
        "forward_lstm",
        "backward_lstm",
    ]
    assert [g.features for g in groups] == [3, 3, 12, 12]  # concat: 2 * 6
    recurrent = sum(layer.count_params() for layer in model.layers[:2])
    assert sum(g.total for g in gate_parameters(model)) == recurrent
    assert len(gate_parameters(model.layers[0])) == 8


def test_stacked_cells_and_unbuilt_layers():
    layer = U.RNN([U.LSTMCell(3), U.GRUCell(2)])
    assert gate_parameters(layer) == []  # not built yet
    layer.build((None, 4, 5))
    groups = layer_gates(layer)
    assert [(g.kind, g.features, g.units) for g in groups] == [("LSTM", 5, 3), ("GRU", 3, 2)]
    assert sum(g.total for g in groups) == layer.count_params()
    assert gate_parameters(U.Dense(3)) == []
