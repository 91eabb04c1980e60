"""`predict` and `evaluate` for the models the stack kernel trains: the forward pass only.

The stack kernel's forward pieces (`stack_kernel`: `_live_masks`, `_read_input`,
`_direction_forward`, `_merge_outputs`) run each level of a group of rows, exactly as in a
fit epoch; the Dense head then gives each row's outputs after its activation (`head_row`'s
linear, sigmoid or softmax), on the last step or on every step. No loss, no gradient, no
states carried: the planner (`predict_plan`) declines stateful models.

The samples are split into groups of up to `rows` rows, `parts = work.shape[0]` groups run
side by side on numba's threads, each in its own workspace (`stack_layout.workspace_layout`,
the training one: the backward buffers sit unused).
"""

from __future__ import annotations

import numba
import numpy as np

from unrolled.compiled.blas import SET_THREADS
from unrolled.compiled.codes import CELL_GRU, CELL_LSTM, GATES_BY_CELL, HEAD_OUTPUTS
from unrolled.compiled.head_kernel import head_row
from unrolled.compiled.jit import kernel, parallel_kernel
from unrolled.compiled.stack_kernel import (
    _carve,
    _direction_forward,
    _live_masks,
    _merge_outputs,
    _read_input,
    _sorted_batch,
)
from unrolled.compiled.stack_layout import (
    BUF_A,
    BUF_C,
    BUF_H,
    BUF_REC,
    BUF_TC,
    BUF_X,
    BUF_XDIR,
    BUF_Y,
    DIRECTION_STRIDE,
    FROM_LEVEL_BELOW,
    LV_BIAS,
    LV_CELL,
    LV_DIRECTIONS,
    LV_FEATURES,
    LV_INIT,
    LV_KERNEL,
    LV_OUT,
    LV_RECURRENT,
    LV_SOURCE,
    LV_STEPS,
    LV_UNITS,
    SH_EXP,
    SH_OUT,
)


@kernel
def _forward_levels(  # type: ignore[no-untyped-def]
    levels, x, x2, tokens, embed, valid, valid2, rows, theta, work, spots, shared, bits
):  # fmt: skip
    """Every level's forward pass for the group `rows` (sample indices), as `_train_rows`
    runs it with zero initial states (or an encoder's final ones). Returns `(root, seen0,
    seen1)`: the model input whose mask the last level follows, and each input's rows that
    have a valid step."""
    n, n_levels = rows.shape[0], levels.shape[0]
    ints, floats = np.zeros(8, np.int32), np.zeros(2, np.float32)
    E = work[shared[SH_EXP] :]
    live0, reversed0, seen0 = _live_masks(valid, rows, valid.shape[1])
    live1, reversed1, seen1 = _live_masks(valid2, rows, valid2.shape[1])
    zeros = np.zeros((n, levels[:, LV_UNITS].max()), np.float32)  # never read: no states
    roots = np.zeros(n_levels, np.int64)  # the model input whose mask each level follows
    for level in range(n_levels):
        spec = levels[level]
        cell, units, features = spec[LV_CELL], spec[LV_UNITS], spec[LV_FEATURES]
        steps, source, gu = spec[LV_STEPS], spec[LV_SOURCE], GATES_BY_CELL[cell] * units
        if source == FROM_LEVEL_BELOW:
            roots[level] = roots[level - 1]
            X = _carve(work, spots[level - 1, 2, BUF_Y], steps, n, features)
        else:
            roots[level] = source
            X = _carve(work, spots[level, 2, BUF_X], steps, n, features)
            _read_input(level, source, x, x2, tokens, embed, theta, rows, X)
        first = spec[LV_INIT]
        for d in range(spec[LV_DIRECTIONS]):
            spot = spots[level, d]
            Xd, lived = X, live0 if roots[level] == 0 else live1
            if d == 1:  # the backward direction reads its input reversed in time
                Xd = _carve(work, spot[BUF_XDIR], steps, n, features)
                for t in range(steps):
                    Xd[steps - 1 - t] = X[t]
                lived = reversed0 if roots[level] == 0 else reversed1
            o = DIRECTION_STRIDE * d
            A = _carve(work, spot[BUF_A], steps, n, gu)
            H = _carve(work, spot[BUF_H], steps + 1, n, units)
            C = _carve(work, spot[BUF_C], steps + 1, n, units)
            REC = _carve(work, spot[BUF_REC], steps, n, gu) if cell == CELL_GRU else A
            TC = _carve(work, spot[BUF_TC], steps, n, units) if cell == CELL_LSTM else H
            h0, c0 = zeros, zeros
            if first >= 0:  # an encoder's final states start this level
                before = levels[first, LV_STEPS]
                h0 = _carve(work, spots[first, 0, BUF_H], before + 1, n, units)[before]
                c0 = _carve(work, spots[first, 0, BUF_C], before + 1, n, units)[before]
            _direction_forward(
                cell, units, Xd, lived, first >= 0, h0, c0, theta, spec[LV_KERNEL + o],
                spec[LV_RECURRENT + o], spec[LV_BIAS + o], A, H, C, REC, TC, E, bits, ints,
                floats,
            )  # fmt: skip
        _merge_outputs(levels, level, work, spots, shared, n)
    return roots[n_levels - 1], seen0, seen1


@kernel
def _dense(h, seen, theta, oD, obd, z):  # type: ignore[no-untyped-def]
    """The Dense pre-activations `z (outputs)` of one output `h (width)`: only the bias (or
    zeros) for a row with no valid step, as `head_kernel.dense_head` gives them."""
    width, outputs = h.shape[0], z.shape[0]
    D = theta[oD : oD + width * outputs].reshape(width, outputs)
    for k in range(outputs):
        pred = np.float32(0.0)
        if seen:
            for u in range(width):
                pred += h[u] * D[u, k]
        if obd >= 0:
            pred += theta[obd + k]
        z[k] = pred


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
    root, seen0, seen1 = _forward_levels(
        levels, x, x2, tokens, embed, valid, valid2, rows, theta, work, spots, shared, bits
    )
    top = levels[levels.shape[0] - 1]
    outputs, width, steps = head[HEAD_OUTPUTS], top[LV_OUT], top[LV_STEPS]
    z = np.zeros(outputs, np.float32)
    o = np.zeros(outputs, np.float32)
    # head_row's loss, gradient and metrics are not wanted: an MSE on zero targets, no metrics
    g, y_row = np.zeros(outputs, np.float32), np.zeros(outputs, np.float32)
    metrics, thresholds = np.zeros(0, np.int64), np.zeros(0, np.float32)
    metric_row, delta = np.zeros(0, np.float32), np.float32(1.0)
    if per_step:  # every step is seen: the plan declines masks on a per-step head
        Y = _carve(work, spots[levels.shape[0] - 1, 2, BUF_Y], steps, n, width)
        for b in range(n):
            for t in range(steps):
                _dense(Y[t, b], True, theta, dense[0], dense[1], z)
                head_row(head, delta, y_row, z, o, g, metrics, thresholds, metric_row)
                out[rows[b], t, :] = o
        return
    seen = seen0 if root == 0 else seen1
    OUT = _carve(work, shared[SH_OUT], 1, n, width)[0]
    for b in range(n):
        _dense(OUT[b], seen[b], theta, dense[0], dense[1], z)
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
