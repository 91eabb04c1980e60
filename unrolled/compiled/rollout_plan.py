"""Whether a chain of layers can generate forecast steps on the compiled kernel.

Supported chains: recurrent layers (LSTM, GRU `reset_after=True`, SimpleRNN, on their
fused configurations, as the `Stepper` already requires), `Dense` (or
`TimeDistributed(Dense)`) and `Activation` with a linear, relu, tanh or sigmoid
activation, and `Dropout` (inactive in a rollout). Anything else declines with the
reason and the rollout steps on torch's cell operators.

`plan_rollout(layers)` returns `(runner, reason)`; `runner(history, steps, outputs,
targets, covariate_columns, covariates)` warms up on the history and returns the
`(S, steps, outputs)` predictions, the whole rollout in one call.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from unrolled import activations
from unrolled.compiled import codes
from unrolled.compiled.fit_plan import _cell_code
from unrolled.compiled.jit import unavailable
from unrolled.layers.core import Activation, Dense
from unrolled.layers.dropout import Dropout
from unrolled.layers.input_layer import InputLayer
from unrolled.layers.recurrent import RNN
from unrolled.layers.time_distributed import TimeDistributed

PATH_NAME = "compiled-rollout"
_ACTIVATIONS = {
    "linear": codes.ACT_LINEAR,
    "relu": codes.ACT_RELU,
    "tanh": codes.ACT_TANH,
    "sigmoid": codes.ACT_SIGMOID,
}


def _activation_code(function: Any) -> int | None:
    return _ACTIVATIONS.get(activations.name_of(function) or "")


def plan_rollout(layers: list[Any]) -> tuple[Any, str]:
    """`(runner, reason)` for generating steps through `layers`; runner None when declined."""
    reason = unavailable()
    if reason is not None:
        return None, reason
    rows: list[list[int]] = []
    weights: list[torch.Tensor] = []
    size, state_size, width = 0, 0, 1
    current = 0  # the size of the values flowing out of the last stage

    def place(tensor: torch.Tensor | None) -> int:
        nonlocal size
        if tensor is None:
            return -1
        weights.append(tensor.detach())
        start, size = size, size + tensor.numel()
        return start

    for layer in layers:
        if isinstance(layer, (InputLayer, Dropout)):
            continue
        if isinstance(layer, RNN):
            cell = layer._cell()
            code = _cell_code(cell)
            if code is None or cell.fused_blocker() is not None:
                return (
                    None,
                    f"{layer.name}: the kernel runs LSTM, GRU and SimpleRNN cells on their fused configuration",
                )
            if any(p.dtype != torch.float32 or p.device.type != "cpu" for p in cell.parameters()):
                return None, f"{layer.name}: the kernel runs float32 weights on the CPU"
            units, gates = cell.units, cell.kernel.shape[1] // cell.units
            row = [code, cell.kernel.shape[0], units, place(cell.kernel)]
            row += [place(cell.recurrent_kernel), place(cell.bias), 0, state_size]
            rows.append(row)
            state_size += units * (2 if code == codes.CELL_LSTM else 1)
            width = max(width, gates * units, cell.kernel.shape[0])
            current = units
            continue
        dense = layer.layer if isinstance(layer, TimeDistributed) else layer
        if isinstance(dense, Dense):
            act = _activation_code(dense.activation)
            if act is None:
                return (
                    None,
                    f"{layer.name}: activation {activations.serialize(dense.activation)!r} is not compiled",
                )
            if dense.kernel.dtype != torch.float32 or dense.kernel.device.type != "cpu":
                return None, f"{layer.name}: the kernel runs float32 weights on the CPU"
            rows.append(
                [codes.STAGE_DENSE, dense.input_features, dense.units, place(dense.kernel), -1]
                + [place(dense.bias), act, 0]
            )
            width = max(width, dense.units, dense.input_features)
            current = dense.units
            continue
        if isinstance(layer, Activation):
            act = _activation_code(layer.activation)
            if act is None or not current:
                return (
                    None,
                    f"{layer.name}: activation {activations.serialize(layer.activation)!r} is not compiled here",
                )
            rows.append([codes.STAGE_ACTIVATION, current, current, -1, -1, -1, act, 0])
            continue
        return (
            None,
            f"{getattr(layer, 'name', type(layer).__name__)} ({type(layer).__name__}) is not compiled",
        )
    spec = np.array(rows, np.int64).reshape(-1, codes.COLUMNS)
    theta = np.concatenate([w.reshape(-1).numpy() for w in weights]).astype(np.float32)
    return _Runner(spec, theta, width, state_size), "numba kernel: every generated step in one call"


class _Runner:
    path_name = PATH_NAME

    def __init__(self, spec: np.ndarray, theta: np.ndarray, width: int, state_size: int) -> None:
        self.spec, self.theta, self.width, self.state_size = spec, theta, width, state_size

    def __call__(
        self,
        history: torch.Tensor,
        steps: int,
        outputs: int,
        targets: list[int],
        covariate_columns: list[int],
        covariates: torch.Tensor | None,
    ) -> torch.Tensor:
        """`(S, steps, outputs)` predictions after `history (S, T, F)`, states from zeros."""
        series = history.shape[0]
        states = np.zeros((series, self.state_size), np.float32)
        known = (
            np.zeros((series, 1, 1), np.float32)
            if covariates is None
            else np.ascontiguousarray(covariates.numpy(), np.float32)
        )
        width = max(self.width, history.shape[2])
        out = np.empty((series, steps, outputs), np.float32)
        from unrolled.compiled.rollout_kernel import rollout  # numba compiles or loads it here

        rollout(
            self.spec,
            self.theta,
            states,
            np.ascontiguousarray(history.numpy(), np.float32),
            steps,
            np.array(targets, np.int64),
            np.array(covariate_columns, np.int64),
            known,
            width,
            out,
        )
        return torch.from_numpy(out)
