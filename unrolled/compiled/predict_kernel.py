"""`predict` and `evaluate` for the models the stack kernel trains: the forward pass only.

The stack kernel's forward pass (`stack_kernel._forward_levels`) runs each level of a
group of rows, exactly as in a fit epoch; the Dense head then gives each row's outputs
after its activation (`head_row`'s linear, sigmoid or softmax), on the last step or on
every step (there its products run over the whole sequence: `sequence_head.dense_rows`).
No loss, no gradient, no states carried: the planner (`predict_plan`) declines stateful
models.

The samples are split into groups of up to `rows` rows, `parts = work.shape[0]` groups run
side by side on numba's threads, each in its own workspace (`stack_layout.workspace_layout`,
the training one: the backward buffers sit unused).
"""

from __future__ import annotations

import numba
import numpy as np

from unrolled.compiled.blas import SET_THREADS
from unrolled.compiled.codes import HEAD_OUTPUTS
from unrolled.compiled.head_kernel import dense_outputs, head_row
from unrolled.compiled.jit import kernel, parallel_kernel
from unrolled.compiled.sequence_head import dense_rows
from unrolled.compiled.stack_kernel import _carve, _forward_levels, _sorted_batch
from unrolled.compiled.stack_layout import (
    BUF_Y,
    LV_OUT,
    LV_STEPS,
    LV_UNITS,
    SH_OUT,
)


@kernel
def _predict_rows(  # type: ignore[no-untyped-def]
    levels, x, x2, tokens, embed, valid, valid2, rows, theta, dense, head, per_step, out,
    work, spots, shared, bits,
):  # fmt: skip
    """The head's outputs for the group `rows` into `out[rows]`: `(n, 1, outputs)` from the
    last level's last output, or `(n, steps, outputs)` with `per_step`."""
    n = rows.shape[0]
    if n == 0:
        return
    no_states = np.zeros((2 * levels.shape[0], n, levels[:, LV_UNITS].max()), np.float32)
    roots, _, _, seen0, _, _, seen1 = _forward_levels(
        levels, x, x2, tokens, embed, valid, valid2, rows, False, no_states, no_states, theta,
        work, spots, shared, bits,
    )  # fmt: skip
    root = roots[levels.shape[0] - 1]
    top = levels[levels.shape[0] - 1]
    outputs, width, steps = head[HEAD_OUTPUTS], top[LV_OUT], top[LV_STEPS]
    z = np.zeros(outputs, np.float32)
    o = np.zeros(outputs, np.float32)
    # head_row's loss, gradient and metrics are not wanted: an MSE on zero targets, no metrics
    g, y_row = np.zeros(outputs, np.float32), np.zeros(outputs, np.float32)
    metrics, thresholds = np.zeros(0, np.int64), np.zeros(0, np.float32)
    metric_row, delta = np.zeros(0, np.float32), np.float32(1.0)
    ints, floats = np.zeros(8, np.int32), np.zeros(2, np.float32)  # sgemm's by-reference arguments
    if per_step:  # every step is seen: the plan declines masks on a per-step head
        Y = _carve(work, spots[levels.shape[0] - 1, 2, BUF_Y], steps, n, width)
        Z = np.empty((steps * n, outputs), np.float32)  # row t * n + b: step t of row b
        dense_rows(Y.reshape(steps * n, width), theta, dense[0], dense[1], Z, ints, floats)
        for b in range(n):
            for t in range(steps):
                head_row(head, delta, y_row, Z[t * n + b], o, g, metrics, thresholds, metric_row)
                out[rows[b], t, :] = o
        return
    seen = seen0 if root == 0 else seen1
    OUT = _carve(work, shared[SH_OUT], 1, n, width)[0]
    for b in range(n):
        dense_outputs(OUT[b], seen[b], theta, dense[0], dense[1], z)
        head_row(head, delta, y_row, z, o, g, metrics, thresholds, metric_row)
        out[rows[b], 0, :] = o


@parallel_kernel
def predict_stack(  # type: ignore[no-untyped-def]
    levels, x, x2, tokens, embed, valid, valid2, theta, dense, head, per_step, masked, out,
    rows, work, spots, shared, bits,
):  # fmt: skip
    """Fills `out (N, steps or 1, outputs)` with the model's outputs for its N samples.

    Args: `levels`, `x`, `x2`, `tokens`, `embed`, `valid`, `valid2`, `theta`, `dense` as
    `stack_kernel.fit_epoch_stack` takes them; `head (4,)` int64 `codes.HEAD_*` (only the
    activation and the number of outputs are read); `per_step`: the head runs on every step
    of the last level; `masked`: `valid` has masked steps (the samples are then taken in
    order of where their valid steps lie, so that each group's padded rows skip the cell, as
    `stack_kernel._sorted_batch` orders a batch); `rows`: the most rows a workspace holds;
    `work (parts, floats)`, `spots`, `shared` from `stack_layout.workspace_layout` for
    `rows`, `bits (parts, ...)` int32 exp scratch.
    """
    parts, samples = work.shape[0], out.shape[0]
    order = np.arange(samples)
    if masked:
        order = _sorted_batch(order, valid)
    chunk = parts * rows
    for start in range(0, samples, chunk):
        size = min(chunk, samples - start)
        for p in numba.prange(parts):
            lo, hi = start + p * size // parts, start + (p + 1) * size // parts
            before = SET_THREADS(1)  # the groups are the parallelism: MKL stays on one thread
            _predict_rows(
                levels, x, x2, tokens, embed, valid, valid2, order[lo:hi], theta, dense, head,
                per_step, out, work[p], spots, shared, bits[p],
            )  # fmt: skip
            SET_THREADS(before)
