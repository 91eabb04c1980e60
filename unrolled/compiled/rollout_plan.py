"""Whether a chain of layers can generate forecast steps on the compiled kernel.

Supported chains: recurrent layers (LSTM, GRU, SimpleRNN on their fused configurations, as
the `Stepper` already requires), `Dense` (or `TimeDistributed(Dense)`) and `Activation`
with a linear, relu, tanh or sigmoid activation, and `Dropout` (inactive in a rollout),
each layer's options within its table in `allow_lists`. Anything else declines with the
reason, naming the option, and the rollout steps on torch's cell operators.

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
from unrolled.compiled.allow_lists import (
    KERNEL_CELLS,
    RECURRENT_LAYERS,
    ROLLOUT_ACTIVATIONS,
    ROLLOUT_STAGES,
    config_of,
    declined,
    recurrent_options,
)
from unrolled.compiled.jit import unavailable
from unrolled.compiled.layout import FlatWeights, dense_shapes, flatten
from unrolled.layers.core import Activation, Dense
from unrolled.layers.dropout import Dropout
from unrolled.layers.input_layer import InputLayer
from unrolled.layers.time_distributed import TimeDistributed
from unrolled.ops.weights import keras_weight_shapes

PATH_NAME = "compiled-rollout"


def _blocker(layer: Any) -> str | None:
    """Why the kernel cannot run `layer` as a stage (its class, an option, its weights)."""
    name, kind = getattr(layer, "name", type(layer).__name__), type(layer)
    if kind in RECURRENT_LAYERS:
        cell = layer._cell()
        if type(cell) not in KERNEL_CELLS:
            return f"{name}: {type(cell).__name__} is not an LSTM, GRU or SimpleRNN cell"
        table = recurrent_options(type(cell), training=False)
    elif kind in ROLLOUT_STAGES and (kind is not TimeDistributed or type(layer.layer) is Dense):
        table = ROLLOUT_STAGES[kind]
    else:
        return f"{name} ({kind.__name__}) is not compiled"
    reason = declined(name, config_of(layer), table)
    if reason is None and any(
        p.dtype != torch.float32 or p.device.type != "cpu" for p in layer.parameters()
    ):
        return f"{name}: the kernel runs float32 weights on the CPU"
    return reason


def plan_rollout(layers: list[Any]) -> tuple[Any, str]:
    """`(runner, reason)` for generating steps through `layers`; runner None when declined."""
    reason = unavailable()
    if reason is not None:
        return None, reason
    rows: list[list[int]] = []  # one per stage, columns codes.COL_*
    flat = FlatWeights()
    state_size, width = 0, 1
    current = 0  # the size of the values flowing out of the last stage
    for layer in layers:
        if isinstance(layer, InputLayer):
            continue
        reason = _blocker(layer)
        if reason is not None:
            return None, reason
        if type(layer) in RECURRENT_LAYERS:
            cell = layer._cell()
            operator = cell.fused_operator()  # the table took every option it reads
            if isinstance(operator, str):
                return None, f"{layer.name}: {operator}"
            kind, features, units = cell.kind, cell.kernel.shape[0], cell.units
            at = flat.add(cell, keras_weight_shapes(kind, features, units, cell.use_bias))
            rows.append(
                [operator.kernel_code, features, units, at["kernel"], at["recurrent_kernel"]]
                + [at.get("bias", -1), 0, state_size]
            )
            state_size += kind.state_count * units
            width = max(width, kind.gate_count * units, features)
            current = units
        elif isinstance(layer, Activation):
            if not current:
                return None, f"{layer.name}: an activation before any stage is not compiled here"
            act = ROLLOUT_ACTIVATIONS[activations.serialize(layer.activation)]
            rows.append([codes.STAGE_ACTIVATION, current, current, -1, -1, -1, act, 0])
        elif not isinstance(layer, Dropout):  # Dense, or TimeDistributed(Dense)
            dense = layer.layer if isinstance(layer, TimeDistributed) else layer
            features, units = dense.input_features, dense.units
            at = flat.add(dense, dense_shapes(features, units, dense.use_bias))
            act = ROLLOUT_ACTIVATIONS[activations.serialize(dense.activation)]
            rows.append(
                [codes.STAGE_DENSE, features, units, at["kernel"], -1, at.get("bias", -1), act, 0]
            )
            width = max(width, units, features)
            current = units
    spec = np.array(rows, np.int64).reshape(-1, codes.COLUMNS)
    runner = _Runner(spec, flatten(flat.tensors), width, state_size)
    return runner, "numba kernel: every generated step in one call"


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
