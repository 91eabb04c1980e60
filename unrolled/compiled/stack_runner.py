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
    LV_INIT,
    LV_KERNEL,
    LV_MERGE,
    LV_OUT,
    LV_RECURRENT,
    LV_SEQUENCES,
    LV_SOURCE,
    LV_STEPS,
    LV_UNITS,
    MERGE_CONCAT,
    MERGES,
    exp_scratch_ints,
    forward_work,
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
        x: torch.Tensor | list[torch.Tensor],
        head: Head,
        threads: int,
        rows: int,
    ) -> None:
        """`threads`: the groups each batch is split into; `rows`: a batch's (sizes the
        first kernel call)."""
        self.stack, self.optimizer, self.head = stack, optimizer, head
        self.threads = threads
        self.workspace: tuple[np.ndarray, ...] | None = None
        self.seconds_per_batch: float | None = None
        self.metric_values: torch.Tensor | None = None
        inputs = [
            np.ascontiguousarray(a.detach().numpy()) for a in (x if isinstance(x, list) else [x])
        ]
        self.weights, self.size, self.embed, self.levels, self.dense = self._lay_out(stack, inputs)
        self.forward_work = forward_work(self.levels, rows)
        self.x, self.tokens, self.valid, self.x2, self.valid2 = kernel_inputs(stack, inputs)
        samples = inputs[0].shape[0]
        self.stateful = any(layer.stateful for layer in self._layers())
        # Padded rows skip the cell when each batch's rows are sorted by their valid steps;
        # a stateful model's rows keep their places (each carries its own states).
        self.sort_rows = not self.stateful and not bool(self.valid.all())
        self.y = head.y
        self.sample_weights = np.ones(samples, np.float32)

    @staticmethod
    def _lay_out(
        stack: StackModel, inputs: list[np.ndarray]
    ) -> tuple[list[torch.Tensor], int, np.ndarray, np.ndarray, np.ndarray]:
        """The flat weights (Embedding, each level's directions, Dense) and the kernel's
        tables of where each sits: `(tensors, size, embed, levels, dense)`."""
        flat = FlatWeights()
        embed = np.array([-1, 0, 0], np.int64)  # the table's offset, its dimension and rows
        if stack.embedding is not None:
            table = stack.embedding
            shape = (table.input_dim, table.output_dim)
            embed[:] = flat.add(table, [("embeddings", shape)])["embeddings"], shape[1], shape[0]
        levels = np.zeros((len(stack.levels), COLUMNS), np.int64)
        features, steps = 0, 0
        for row, level in zip(levels, stack.levels):
            cell = level.directions[0]._cell()
            two = len(level.directions) == 2
            if level.source >= 0:  # a model input: its steps and features (an Embedding's)
                steps = inputs[level.source].shape[1]
                features = int(inputs[level.source].shape[-1])
                if level.source == 0 and stack.embedding is not None:
                    features = stack.embedding.output_dim
            row[LV_CELL] = cell.fused_operator().kernel_code
            row[LV_UNITS], row[LV_FEATURES], row[LV_STEPS] = cell.units, features, steps
            row[LV_DIRECTIONS], row[LV_MERGE] = len(level.directions), MERGES[level.merge]
            row[LV_SEQUENCES], row[LV_SOURCE], row[LV_INIT] = (
                level.sequences,
                level.source,
                level.init,
            )
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
        offsets = np.array([dense_at["kernel"], dense_at.get("bias", -1)], np.int64)
        return flat.tensors, flat.size, embed, levels, offsets

    def _layers(self) -> list[Any]:
        """Each direction-layer, in the kernel's state order (`2 * level + d`)."""
        return [layer for level in self.stack.levels for layer in level.directions]

    def _read_states(self, batch_size: int) -> list[np.ndarray]:
        """`(h, c)`, each `(2L, batch, widest units)`: a stateful model's states by
        direction-layer at `2 * level + d` (zeros otherwise)."""
        units = int(self.levels[:, LV_UNITS].max())
        rows = batch_size if self.stateful else 1
        h = np.zeros((2 * len(self.levels), rows, units), np.float32)
        c = np.zeros_like(h)
        if self.stateful:
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
        kernel(
            self.levels, self.x, self.x2, self.tokens, self.embed, self.y, self.stack.per_step,
            self.valid, self.valid2, order, batch_size, self.stateful, self.sort_rows, states[0],
            states[1], theta, self.dense,
            m, v, *rule, first_step, losses, head.codes, head.delta, head.metrics,
            head.thresholds, metric_values, self.sample_weights, *workspace,
        )  # fmt: skip

    def _workspace(self, batch_size: int) -> tuple[np.ndarray, ...]:
        """Each thread's buffers (`stack_layout`), allocated once per batch size."""
        rows = -(-min(batch_size, self.x.shape[0]) // self.threads)
        embedded = self.stack.embedding is not None
        spots, shared, floats = workspace_layout(self.levels, rows, embedded)
        if self.workspace is None or self.workspace[0].shape[1] != floats:
            self.workspace = (
                np.empty((self.threads, floats), np.float32),
                spots,
                shared,
                np.empty((self.threads, exp_scratch_ints(self.levels, rows)), np.int32),
            )
        return self.workspace

    kernel_name = "batched fit kernel"

    def _kernel(self) -> Any:
        from unrolled.compiled.stack_kernel import fit_epoch_stack

        return fit_epoch_stack


def kernel_inputs(stack: StackModel, arrays: list[np.ndarray]) -> tuple[np.ndarray, ...]:
    """`(x, tokens, valid, x2, valid2)` as the stack and inference kernels read the model's
    input arrays: features (or token ids for an Embedding), the second input, and uint8
    masks of the valid steps."""
    first = arrays[0]
    samples = first.shape[0]
    if stack.embedding is not None:
        tokens = first.astype(np.int64).reshape(first.shape[:2])
        x = np.zeros((*first.shape[:2], 0), np.float32)
        valid = tokens != 0 if stack.embedding.mask_zero else np.ones(first.shape[:2], bool)
    else:
        tokens = np.zeros((samples, 0), np.int64)
        x = first
        valid = np.ones(first.shape[:2], bool)
        if stack.masking is not None:
            valid = (first != np.float32(stack.masking.mask_value)).any(axis=-1)
    x2 = arrays[1] if len(arrays) > 1 else np.zeros((samples, 0, 0), np.float32)
    valid2 = np.ones(x2.shape[:2], np.uint8)  # the plan takes no mask there
    return x, tokens, valid.astype(np.uint8), x2, valid2
