"""The kernels' numbers and layouts come from the cell kinds: codes from each fused operator's
`kernel_code`, flat vectors from `ops.weights.keras_weight_shapes`, checked against the
weights a layer builds."""

from __future__ import annotations

import pytest
import torch

from unrolled.compiled import codes
from unrolled.compiled.layout import FlatWeights, dense_shapes
from unrolled.errors import ShapeError
from unrolled.layers import GRU, LSTM, Dense, SimpleRNN
from unrolled.ops import cell_kinds
from unrolled.ops.weights import keras_weight_shapes


def test_cell_codes_and_gates_are_the_kinds():
    for kind in cell_kinds.CELL_KINDS:
        for operator in kind.fused.values():
            assert codes.GATES_BY_CELL[operator.kernel_code] == kind.gate_count
            assert codes.BIAS_ROWS_BY_CELL[operator.kernel_code] == kind.bias_rows
    assert codes.CELL_RNN_RELU == cell_kinds.SIMPLE_RNN.fused["relu"].kernel_code
    assert sorted(codes.GATES) == list(range(len(cell_kinds.FUSED_OPERATORS)))


@pytest.mark.parametrize(
    "layer",
    [LSTM, GRU, lambda units, **kw: GRU(units, reset_after=False, **kw), SimpleRNN],
    ids=["lstm", "gru", "gru_reset_before", "simple_rnn"],
)
@pytest.mark.parametrize("use_bias", [True, False])
def test_keras_weight_shapes_are_the_weights_a_layer_builds(layer, use_bias):
    recurrent = layer(3, use_bias=use_bias)
    recurrent(torch.zeros(2, 4, 5))
    cell = recurrent.cell
    built = [(name, tuple(getattr(cell, name).shape)) for name in ("kernel", "recurrent_kernel")]
    built += [("bias", tuple(cell.bias.shape))] if use_bias else []
    assert keras_weight_shapes(cell.kind, 5, 3, use_bias) == built


def test_flat_weights_lay_layers_end_to_end_and_check_shapes():
    recurrent, dense = GRU(3), Dense(2)
    dense(recurrent(torch.zeros(1, 4, 5)))
    flat = FlatWeights()
    cell_at = flat.add(recurrent.cell, keras_weight_shapes(recurrent.cell.kind, 5, 3))
    dense_at = flat.add(dense, dense_shapes(3, 2, use_bias=True))
    assert cell_at == {"kernel": 0, "recurrent_kernel": 45, "bias": 72}
    assert dense_at == {"kernel": 90, "bias": 96} and flat.size == 98
    with pytest.raises(ShapeError, match=r"expected kernel of shape \(5, 12\)"):
        flat.add(recurrent.cell, keras_weight_shapes(cell_kinds.LSTM, 5, 3))
