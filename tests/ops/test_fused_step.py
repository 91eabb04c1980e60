"""One step on the fused cell operators equals one step of torch.nn.LSTM/GRU/RNN."""

from __future__ import annotations

import pytest
import torch

from unrolled.ops.cell_kinds import FUSED_OPERATORS
from unrolled.ops.fused_step import run_fused_step

OPERATORS = {operator.name: operator for operator in FUSED_OPERATORS}

MODULES = {
    "lstm": lambda bias: torch.nn.LSTM(3, 5, bias=bias, batch_first=True),
    "gru": lambda bias: torch.nn.GRU(3, 5, bias=bias, batch_first=True),
    "rnn_tanh": lambda bias: torch.nn.RNN(3, 5, bias=bias, batch_first=True),
    "rnn_relu": lambda bias: torch.nn.RNN(3, 5, bias=bias, nonlinearity="relu", batch_first=True),
}


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kind", sorted(MODULES))
def test_one_fused_step_equals_the_torch_module(kind: str, bias: bool) -> None:
    torch.manual_seed(0)
    module = MODULES[kind](bias)
    x = torch.randn(4, 3)
    states = [torch.randn(4, 5)] + ([torch.randn(4, 5)] if kind == "lstm" else [])
    hidden = tuple(s[None] for s in states) if kind == "lstm" else states[0][None]
    expected, final = module(x[:, None], hidden)
    h, new_states = run_fused_step(OPERATORS[kind], x, states, list(module._flat_weights))
    torch.testing.assert_close(h, expected[:, 0])
    finals = final if kind == "lstm" else (final,)
    for mine, theirs in zip(new_states, finals):
        torch.testing.assert_close(mine, theirs[0])
