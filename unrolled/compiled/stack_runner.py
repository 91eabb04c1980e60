"""The runner of the fits `stack_plan` accepts: `fit_runner.EpochRunner`'s epochs on the stack kernel.

The weights are laid out as the kernel reads them (`layout.FlatWeights`): the Embedding's
table, each level's directions' cell weights, then the Dense head; `levels` says where each
starts. Calls, the progress bar, Ctrl-C, slots and write-back are `EpochRunner`'s.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from unrolled.compiled.fit_runner import EpochRunner
from unrolled.compiled.head_plan import Head
from unrolled.compiled.layout import FlatWeights, dense_shapes
from unrolled.compiled.stack_layout import (
    COLUMNS,
    DIRECTION_STRIDE,
    LV_BIAS,
    LV_CELL,
    LV_DIRECTIONS,
    LV_FEATURES,
    LV_KERNEL,
    LV_MERGE,
    LV_OUT,
    LV_RECURRENT,
    LV_SEQUENCES,
    LV_UNITS,
    MERGE_CONCAT,
    MERGES,
    exp_scratch_ints,
    workspace_layout,
)
from unrolled.compiled.stack_plan import StackModel
from unrolled.ops.weights import keras_weight_shapes


class StackRunner(EpochRunner):
    """Runs epochs of the stack kernel on a model's weights, in place."""

    def __init__(
        self,
        stack: StackModel,
        optimizer: Any,
        x: torch.Tensor,
        head: Head,
        threads: int,
        forward_work: int,
    ) -> None:
        self.stack, self.optimizer, self.head = stack, optimizer, head
        self.threads = threads
        self.workspace: tuple[np.ndarray, ...] | None = None
        self.seconds_per_batch: float | None = None
        self.forward_work = forward_work
        self.metric_values: torch.Tensor | None = None
        flat = FlatWeights()
        self.embed = np.array([-1, 0], np.int64)
        if stack.embedding is not None:
            table = stack.embedding
            shape = (table.input_dim, table.output_dim)
            self.embed[:] = flat.add(table, [("embeddings", shape)])["embeddings"], shape[1]
        features = stack.embedding.output_dim if stack.embedding else int(x.shape[-1])
        self.levels = np.zeros((len(stack.levels), COLUMNS), np.int64)
        for row, level in zip(self.levels, stack.levels):
            cell = level.directions[0]._cell()
            two = len(level.directions) == 2
            row[LV_CELL] = cell.fused_operator().kernel_code
            row[LV_UNITS], row[LV_FEATURES] = cell.units, features
            row[LV_DIRECTIONS], row[LV_MERGE] = len(level.directions), MERGES[level.merge]
            row[LV_SEQUENCES] = level.sequences
            row[LV_OUT] = 2 * cell.units if two and row[LV_MERGE] == MERGE_CONCAT else cell.units
            for d, layer in enumerate(level.directions):
                each = layer._cell()
                shapes = keras_weight_shapes(each.kind, features, each.units, each.use_bias)
                at = flat.add(each, shapes)
                o = DIRECTION_STRIDE * d
                row[LV_KERNEL + o] = at["kernel"]
                row[LV_RECURRENT + o] = at["recurrent_kernel"]
                row[LV_BIAS + o] = at.get("bias", -1)
            features = int(row[LV_OUT])
        dense = stack.dense
        dense_at = flat.add(dense, dense_shapes(features, dense.units, dense.use_bias))
        self.dense = np.array([dense_at["kernel"], dense_at.get("bias", -1)], np.int64)
        self.weights, self.size = flat.tensors, flat.size
        data = np.ascontiguousarray(x.detach().numpy())
        samples, steps = data.shape[:2]
        if stack.embedding is not None:
            self.tokens = data.astype(np.int64).reshape(samples, steps)
            self.x = np.zeros((samples, steps, 0), np.float32)
            mask_zero = stack.embedding.mask_zero
            self.valid = (self.tokens != 0) if mask_zero else np.ones((samples, steps), bool)
        else:
            self.tokens = np.zeros((samples, 0), np.int64)
            self.x = data
            masking = stack.masking
            self.valid = np.ones((samples, steps), bool)
            if masking is not None:
                self.valid = (data != np.float32(masking.mask_value)).any(axis=-1)
        self.valid = self.valid.astype(np.uint8)
        self.y = head.y
        self.sample_weights = np.ones(samples, np.float32)

    def _layers(self) -> list[Any]:
        """Each direction-layer, in the kernel's state order (`2 * level + d`)."""
        return [layer for level in self.stack.levels for layer in level.directions]

    def _read_states(self, batch_size: int) -> list[np.ndarray]:
        """`(h, c)`, each `(2L, batch, widest units)`: a stateful model's states by
        direction-layer at `2 * level + d` (zeros otherwise)."""
        units = int(self.levels[:, LV_UNITS].max())
        stateful = self._layers()[0].stateful
        rows = batch_size if stateful else 1
        h = np.zeros((2 * len(self.levels), rows, units), np.float32)
        c = np.zeros_like(h)
        if stateful:
            for index, level in enumerate(self.stack.levels):
                for d, layer in enumerate(level.directions):
                    layer._check_stateful_batch(batch_size)
                    for target, name in zip((h, c), layer._state_names):
                        value = getattr(layer, name).detach().numpy()
                        target[2 * index + d, :, : value.shape[1]] = value
        return [h, c]

    def _write_states(self, states: list[np.ndarray]) -> None:
        for index, level in enumerate(self.stack.levels):
            for d, layer in enumerate(level.directions):
                if not layer.stateful:
                    continue
                units = layer._cell().units
                for source, name in zip(states, layer._state_names):
                    value = source[2 * index + d, :, :units].copy()
                    setattr(layer, name, torch.from_numpy(value))

    def _call(
        self,
        kernel: Any,
        order: np.ndarray,
        batch_size: int,
        states: list[np.ndarray],
        weights: tuple[Any, ...],
        first_step: int,
        losses: np.ndarray,
        metric_values: np.ndarray,
        workspace: tuple[np.ndarray, ...],
    ) -> None:
        theta, m, v, *rule = weights
        head = self.head
        stateful = self._layers()[0].stateful
        kernel(
            self.levels, self.x, self.tokens, self.embed, self.y, self.stack.per_step,
            self.valid, order, batch_size, stateful, states[0], states[1], theta, self.dense,
            m, v, *rule, first_step, losses, head.codes, head.delta, head.metrics,
            head.thresholds, metric_values, self.sample_weights, *workspace,
        )  # fmt: skip

    def _workspace(self, batch_size: int) -> tuple[np.ndarray, ...]:
        """Each thread's buffers (`stack_layout`), allocated once per batch size."""
        rows = -(-min(batch_size, self.x.shape[0]) // self.threads)
        steps = self.valid.shape[1]
        width = int(self.levels[0, LV_FEATURES])
        spots, shared, floats = workspace_layout(
            self.levels, steps, rows, width, self.stack.embedding is not None
        )
        if self.workspace is None or self.workspace[0].shape[1] != floats:
            self.workspace = (
                np.empty((self.threads, floats), np.float32),
                spots,
                shared,
                np.empty((self.threads, exp_scratch_ints(self.levels, rows)), np.int32),
            )
        return self.workspace

    def compile_note(self) -> str | None:
        from unrolled.compiled.jit import will_compile

        if not will_compile(self._kernel()):
            return None
        return (
            "Compiling the stack fit kernel (once per machine, up to a minute; later runs "
            "load it from numba's cache)..."
        )

    def _kernel(self) -> Any:
        from unrolled.compiled.stack_kernel import fit_epoch_stack

        return fit_epoch_stack
