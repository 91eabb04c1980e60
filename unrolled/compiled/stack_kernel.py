"""Epochs of `fit` on matrix products: `[Embedding | Masking ->] level, ..., level -> Dense`.

Every fit too big for the row-by-row kernel (`fit_kernel`), and every model it does not
take: several recurrent layers, `Bidirectional` ones (`stack_layout`'s levels of one or
two directions and a merge), token ids through an `Embedding`, a Dense head on the last
step or on every step (`return_sequences`, `TimeDistributed(Dense)`), and the two-input
encoder-decoder. Masks (`Masking`, `mask_zero`) apply to every level, as Keras passes them
through `return_sequences` layers. Built on `batched_kernel`'s pieces: step-major buffers,
MKL sgemm, the vectorized gate steps; each batch is split into groups of rows trained side
by side on numba's threads.

Per group of rows: each level's directions run forwards in turn (the backward one on its
input reversed in time, its outputs flipped back when merged), the head gives the gradient
by the last level's output, and the levels run backwards from the top, each handing the
gradient by its input to the level below (`dX = DZ @ K^T`), down to the Embedding's rows.
"""

from __future__ import annotations

import numba
import numpy as np

from unrolled.compiled.batched_kernel import _gemm, _gru_step, _lstm_step, _simple_step
from unrolled.compiled.blas import SET_THREADS
from unrolled.compiled.cell_steps import step_gradients
from unrolled.compiled.codes import (
    CELL_GRU,
    CELL_LSTM,
    GATES_BY_CELL,
    HEAD_OUTPUTS,
    HYPER_CLIPNORM,
    HYPER_GLOBAL_CLIPNORM,
)
from unrolled.compiled.fit_kernel import _apply_update
from unrolled.compiled.head_kernel import dense_head
from unrolled.compiled.jit import kernel, parallel_kernel
from unrolled.compiled.sequence_head import sequence_head
from unrolled.compiled.stack_layout import (
    BUF_A,
    BUF_C,
    BUF_DC_FINAL,
    BUF_DH_FINAL,
    BUF_DR,
    BUF_DX,
    BUF_DY,
    BUF_DZ,
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
    LV_MERGE,
    LV_OUT,
    LV_RECURRENT,
    LV_SEQUENCES,
    LV_SOURCE,
    LV_STEPS,
    LV_UNITS,
    MERGE_AVE,
    MERGE_CONCAT,
    MERGE_MUL,
    SH_DC,
    SH_DH,
    SH_DOUT,
    SH_EXP,
    SH_OUT,
)


@kernel
def _carve(work, at, a, b, c):  # type: ignore[no-untyped-def]
    """The `(a, b, c)` buffer starting at `at` in a workspace."""
    return work[at : at + a * b * c].reshape(a, b, c)


@kernel
def _live_range(live_t):  # type: ignore[no-untyped-def]
    """`(lo, hi)`: the rows from the first to the last live one at a step (`lo == hi`: none).
    The batch's rows come sorted by where their valid steps lie (`_sorted_batch`), so that
    padded rows fall outside and skip the cell."""
    n = live_t.shape[0]
    lo = 0
    while lo < n and not live_t[lo]:
        lo += 1
    hi = n
    while hi > lo and not live_t[hi - 1]:
        hi -= 1
    return lo, hi


@kernel
def _padded(live):  # type: ignore[no-untyped-def]
    """Whether the steps' live rows (`_live_range`) leave a tenth of the work or more out:
    then products run step by step on them, else once over every step."""
    steps, n = live.shape
    running = 0
    for t in range(steps):
        lo, hi = _live_range(live[t])
        running += hi - lo
    return 10 * running < 9 * steps * n


@kernel
def _sorted_batch(rows, valid):  # type: ignore[no-untyped-def]
    """The batch's sample indices ordered by their first valid step, then their last one
    latest first: pre- or post-padded rows then leave each step's live rows contiguous."""
    steps = valid.shape[1]
    keys = np.empty(rows.shape[0], np.int64)
    for b in range(rows.shape[0]):
        first, last = steps, -1
        for t in range(steps):
            if valid[rows[b], t]:
                first = min(first, t)
                last = t
        keys[b] = first * (steps + 2) + (steps - last)
    return rows[np.argsort(keys, kind="mergesort")]


@kernel
def _dealt(rows, parts):  # type: ignore[no-untyped-def]
    """`rows` (sorted by `_sorted_batch`) dealt round-robin into the `parts` groups a batch
    splits into (group p: `[p * size // parts, (p + 1) * size // parts)`), each group still
    in sorted order. Split as they came, one group got all the shortest sequences and
    waited on the other: dealt, each group gets its share of every length."""
    size = rows.shape[0]
    dealt = np.empty_like(rows)
    filled = np.zeros(parts, np.int64)
    p = 0
    for i in range(size):
        while filled[p] == (p + 1) * size // parts - p * size // parts:  # this group is full
            p = (p + 1) % parts
        dealt[p * size // parts + filled[p]] = rows[i]
        filled[p] += 1
        p = (p + 1) % parts
    return dealt


@kernel
def _direction_forward(  # type: ignore[no-untyped-def]
    cell, units, X, live, starts, h0, c0, theta, oK, oR, ob, A, H, C, REC, TC, E, bits,
    ints, floats,
):  # fmt: skip
    """One direction of a level over its input `X (T, n, F)` in processing order: fills the
    gates `A`, states `H`, `C (T + 1, n, U)`, GRU's `REC` and LSTM's `TC`, from the states
    `h0`, `c0 (n, >= U)` when `starts` (stateful, or an encoder's), else zeros. A step masked
    (`live[t, b]` False) leaves the row's states as they were."""
    steps, n, features = X.shape
    gu = GATES_BY_CELL[cell] * units
    is_gru = cell == CELL_GRU
    one = np.float32(1.0)
    for b in range(n):
        for u in range(units):
            H[0, b, u] = h0[b, u] if starts else np.float32(0.0)
            C[0, b, u] = c0[b, u] if starts else np.float32(0.0)
    A2 = A.reshape(steps * n, gu)
    for r in range(steps * n):
        for j in range(gu):
            A2[r, j] = theta[ob + j] if ob >= 0 else np.float32(0.0)
    K_at = theta[oK:].ctypes.data
    if _padded(live):  # each step's live rows only (`_live_range`)
        for t in range(steps):
            lo, hi = _live_range(live[t])
            if lo < hi:
                _gemm(False, False, hi - lo, gu, features, X[t, lo:hi].ctypes.data, features,
                      K_at, gu, one, A[t, lo:hi].ctypes.data, gu, ints, floats)  # fmt: skip
    else:  # every step's input projection as one product
        _gemm(False, False, steps * n, gu, features, X.ctypes.data, features, K_at, gu, one,
              A.ctypes.data, gu, ints, floats)  # fmt: skip
    R_at = theta[oR:].ctypes.data
    for t in range(steps):
        lo, hi = _live_range(live[t])  # rows outside are masked: only [lo, hi) run the cell
        if is_gru:
            for b in range(lo, hi):
                for j in range(gu):
                    REC[t, b, j] = theta[ob + gu + j] if ob >= 0 else np.float32(0.0)
        target = REC[t, lo:hi] if is_gru else A[t, lo:hi]
        if lo < hi and (t > 0 or starts):  # h @ R (zero at a first step from zero states)
            _gemm(False, False, hi - lo, gu, units, H[t, lo:hi].ctypes.data, units, R_at, gu,
                  one, target.ctypes.data, gu, ints, floats)  # fmt: skip
        if lo == hi:
            pass
        elif cell == CELL_LSTM:
            _lstm_step(A[t, lo:hi], C[t, lo:hi], C[t + 1, lo:hi], TC[t, lo:hi], H[t + 1, lo:hi],
                       E, bits)  # fmt: skip
        elif is_gru:
            _gru_step(A[t, lo:hi], REC[t, lo:hi], H[t, lo:hi], H[t + 1, lo:hi], E, bits)
        else:
            _simple_step(cell, A[t, lo:hi], H[t + 1, lo:hi], E, bits)
        for b in range(n):
            if b < lo or b >= hi or not live[t, b]:  # a masked step: the states pass through
                for u in range(units):
                    H[t + 1, b, u] = H[t, b, u]
                    C[t + 1, b, u] = C[t, b, u]


@kernel
def _direction_backward(  # type: ignore[no-untyped-def]
    cell, units, X, live, theta, oK, oR, ob, A, H, C, REC, TC, DZ, DR, dH, dC, grad,
    dY, column, merge, reverse, other_H, sequences, dX, accumulate, init_grad, ints, floats,
):  # fmt: skip
    """Backpropagation through time of one direction (after `_direction_forward`), adding its
    weight gradients to `grad`.

    The gradient by the direction's outputs: with `sequences`, `dY (T, n, out)` in time
    order, this direction's part from `column` (the merge's: concat, sum, ave, or mul by the
    other direction's outputs `other_H`), added as each step is reached; else `dH` holds the
    gradient by its last output on entry. `dC` holds LSTM's by its last c. With `dX`
    non-empty, writes (or with `accumulate`, adds) the gradient by the input, in time order.
    With `init_grad`, `dH` and `dC` end holding the gradient by the initial states (an
    encoder's final ones); else nothing flows into them (truncated, as Keras's constants).
    """
    steps, n, features = X.shape
    gu = GATES_BY_CELL[cell] * units
    is_gru = cell == CELL_GRU
    one = np.float32(1.0)
    R_at, K_at = theta[oR:].ctypes.data, theta[oK:].ctypes.data
    R_H = REC[:, :, 2 * units :]  # GRU's recurrent h projection; other cells never read it
    scale = np.float32(0.5) if merge == MERGE_AVE else one
    padded = _padded(live)  # products on each step's live rows only (else over every step)
    for k in range(steps - 1, -1, -1):
        if sequences:
            t = steps - 1 - k if reverse else k  # the time step k processed
            other = t + 1 if reverse else steps - t  # the other direction's output at time t
            for b in range(n):
                for u in range(units):
                    g = dY[t, b, column + u] * scale
                    if merge == MERGE_MUL:
                        g *= other_H[other, b, u]
                    dH[b, u] += g
        lo, hi = _live_range(live[k])  # as forwards: rows outside passed their states on
        if not padded:  # the products over every step read the rows outside as zeros
            for b in range(n):
                if b < lo or b >= hi:
                    DZ[k, b, :] = np.float32(0.0)
                    if is_gru:  # other cells' DR is DZ
                        DR[k, b, :] = np.float32(0.0)
        if lo == hi:
            continue
        step_gradients(
            cell, A[k, lo:hi], R_H[k, lo:hi], H[k, lo:hi], C[k, lo:hi], TC[k, lo:hi],
            live[k, lo:hi], dH[lo:hi], dC[lo:hi], DZ[k, lo:hi], DR[k, lo:hi],
        )  # fmt: skip
        if k > 0 or init_grad:  # dh_prev += dr @ R^T
            _gemm(False, True, hi - lo, units, gu, DR[k, lo:hi].ctypes.data, gu, R_at, gu, one,
                  dH[lo:hi].ctypes.data, units, ints, floats)  # fmt: skip
    grad_at = grad.ctypes.data
    if padded:  # each step's live rows only (the others' DZ and DR are not written)
        for k in range(steps):
            lo, hi = _live_range(live[k])
            if lo < hi:
                _gemm(True, False, features, gu, hi - lo, X[k, lo:hi].ctypes.data, features,
                      DZ[k, lo:hi].ctypes.data, gu, one, grad_at + 4 * oK, gu, ints, floats)  # fmt: skip
                _gemm(True, False, units, gu, hi - lo, H[k, lo:hi].ctypes.data, units,
                      DR[k, lo:hi].ctypes.data, gu, one, grad_at + 4 * oR, gu, ints, floats)  # fmt: skip
    else:  # one product each over every step
        _gemm(True, False, features, gu, steps * n, X.ctypes.data, features, DZ.ctypes.data, gu,
              one, grad_at + 4 * oK, gu, ints, floats)  # fmt: skip
        _gemm(True, False, units, gu, steps * n, H.ctypes.data, units, DR.ctypes.data, gu,
              one, grad_at + 4 * oR, gu, ints, floats)  # fmt: skip
    if ob >= 0:  # the bias's gradient: DZ's (and GRU's recurrent bias: DR's) live rows summed
        for k in range(steps):
            lo, hi = _live_range(live[k])
            for b in range(lo, hi):
                for j in range(gu):
                    grad[ob + j] += DZ[k, b, j]
            if is_gru:
                for b in range(lo, hi):
                    for j in range(gu):
                        grad[ob + gu + j] += DR[k, b, j]
    if dX.shape[0] == 0:
        return
    if padded:  # dX (+)= DZ @ K^T step by step, on each step's live rows
        zero = np.float32(0.0)
        for k in range(steps):
            t = steps - 1 - k if reverse else k
            lo, hi = _live_range(live[k])
            if not accumulate:
                for b in range(n):
                    if b < lo or b >= hi:
                        dX[t, b, :] = zero
            if lo < hi:
                _gemm(False, True, hi - lo, features, gu, DZ[k, lo:hi].ctypes.data, gu, K_at, gu,
                      one if accumulate else zero, dX[t, lo:hi].ctypes.data, features, ints,
                      floats)  # fmt: skip
        return
    if not reverse:  # dX (+)= DZ @ K^T, in time order already
        _gemm(False, True, steps * n, features, gu, DZ.ctypes.data, gu, K_at, gu,
              one if accumulate else np.float32(0.0), dX.ctypes.data, features, ints, floats)  # fmt: skip
        return
    # processing order into X (read for the last time above), then added flipped in time
    _gemm(False, True, steps * n, features, gu, DZ.ctypes.data, gu, K_at, gu, np.float32(0.0),
          X.ctypes.data, features, ints, floats)  # fmt: skip
    for k in range(steps):
        t = steps - 1 - k
        for b in range(n):
            for f in range(features):
                dX[t, b, f] = dX[t, b, f] + X[k, b, f] if accumulate else X[k, b, f]


@kernel
def _merged(merge, a, b):  # type: ignore[no-untyped-def]
    if merge == MERGE_MUL:
        return a * b
    if merge == MERGE_AVE:
        return (a + b) / np.float32(2.0)
    return a + b  # sum


@kernel
def _merge_outputs(levels, level, work, spots, shared, n):  # type: ignore[no-untyped-def]
    """The level's output from its directions' states: every step `(T, n, out)` in time
    order when it returns sequences (the backward direction's flipped back), else the last
    `(n, out)` for the last level (an encoder's output is not read: only its states)."""
    spec = levels[level]
    units, width, merge = spec[LV_UNITS], spec[LV_OUT], spec[LV_MERGE]
    steps = spec[LV_STEPS]
    two = spec[LV_DIRECTIONS] == 2
    Hf = _carve(work, spots[level, 0, BUF_H], steps + 1, n, units)
    Hb = _carve(work, spots[level, 1, BUF_H], steps + 1, n, units) if two else Hf
    if spec[LV_SEQUENCES]:
        Y = _carve(work, spots[level, 2, BUF_Y], steps, n, width)
        for t in range(steps):
            for b in range(n):
                if not two or merge == MERGE_CONCAT:
                    for u in range(units):
                        Y[t, b, u] = Hf[t + 1, b, u]
                    if two:
                        for u in range(units):
                            Y[t, b, units + u] = Hb[steps - t, b, u]
                else:
                    for u in range(units):
                        Y[t, b, u] = _merged(merge, Hf[t + 1, b, u], Hb[steps - t, b, u])
        return
    if level != levels.shape[0] - 1:
        return
    OUT = _carve(work, shared[SH_OUT], 1, n, width)[0]
    for b in range(n):
        if not two or merge == MERGE_CONCAT:
            for u in range(units):
                OUT[b, u] = Hf[steps, b, u]
            if two:
                for u in range(units):
                    OUT[b, units + u] = Hb[steps, b, u]
        else:
            for u in range(units):
                OUT[b, u] = _merged(merge, Hf[steps, b, u], Hb[steps, b, u])


@kernel
def _last_output_gradient(  # type: ignore[no-untyped-def]
    merge, directions, d, units, work, shared, width, other, steps, dH
):  # fmt: skip
    """Sets `dH (n, U)` to direction d's part of the gradient by the last level's last
    output (`shared[SH_DOUT]`); `other`: the other direction's states (for `mul`)."""
    n = dH.shape[0]
    dOUT = _carve(work, shared[SH_DOUT], 1, n, width)[0]
    for b in range(n):
        for u in range(units):
            if directions == 1:
                dH[b, u] = dOUT[b, u]
            elif merge == MERGE_CONCAT:
                dH[b, u] = dOUT[b, d * units + u]
            elif merge == MERGE_MUL:
                dH[b, u] = dOUT[b, u] * other[steps, b, u]
            elif merge == MERGE_AVE:
                dH[b, u] = dOUT[b, u] * np.float32(0.5)
            else:
                dH[b, u] = dOUT[b, u]


@kernel
def _live_masks(valid, rows, steps):  # type: ignore[no-untyped-def]
    """`(live (T, n), live reversed in time, seen (n))` of the rows' valid steps."""
    n = rows.shape[0]
    live = np.zeros((steps, n), np.bool_)
    reversed_ = np.zeros((steps, n), np.bool_)
    seen = np.zeros(n, np.bool_)
    for t in range(steps):
        for b in range(n):
            live[t, b] = valid[rows[b], t] != 0
            reversed_[steps - 1 - t, b] = live[t, b]
            seen[b] = seen[b] or live[t, b]
    return live, reversed_, seen


@kernel
def _read_input(level, source, x, x2, tokens, embed, theta, rows, X):  # type: ignore[no-untyped-def]
    """A level's model input into `X (T, n, F)`: features of input `source`, or the first
    level's Embedding rows of its token ids."""
    steps, n, features = X.shape
    for t in range(steps):
        for b in range(n):
            s = rows[b]
            if level == 0 and embed[0] >= 0:
                at = embed[0] + tokens[s, t] * features
                for f in range(features):
                    X[t, b, f] = theta[at + f]
            elif source == 0:
                for f in range(features):
                    X[t, b, f] = x[s, t, f]
            else:
                for f in range(features):
                    X[t, b, f] = x2[s, t, f]


@kernel
def _forward_levels(  # type: ignore[no-untyped-def]
    levels, x, x2, tokens, embed, valid, valid2, rows, stateful, h_state, c_state, theta, work,
    spots, shared, bits,
):  # fmt: skip
    """Every level's forward pass for the group `rows` (sample indices), from zero states,
    an encoder's final ones, or with `stateful` the direction-layers' `h_state`, `c_state
    (2L, n, U)` (then written back). The fit's `_train_rows` and the inference kernel's.

    Returns `(roots, live0, reversed0, seen0, live1, reversed1, seen1)`: the model input
    whose mask each level follows, and each input's masks (`_live_masks`).
    """
    n, n_levels = rows.shape[0], levels.shape[0]
    ints, floats = np.zeros(8, np.int32), np.zeros(2, np.float32)
    E = work[shared[SH_EXP] :]
    live0, reversed0, seen0 = _live_masks(valid, rows, valid.shape[1])
    live1, reversed1, seen1 = _live_masks(valid2, rows, valid2.shape[1])
    roots = np.zeros(n_levels, np.int64)
    # ---- forward, level by level ---------------------------------------------------------
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
            state = 2 * level + d
            h0, c0 = h_state[state], c_state[state]
            if first >= 0:  # an encoder's final states start this level
                before = levels[first, LV_STEPS]
                h0 = _carve(work, spots[first, 0, BUF_H], before + 1, n, units)[before]
                c0 = _carve(work, spots[first, 0, BUF_C], before + 1, n, units)[before]
            _direction_forward(
                cell, units, Xd, lived, stateful or first >= 0, h0, c0, theta,
                spec[LV_KERNEL + o], spec[LV_RECURRENT + o], spec[LV_BIAS + o], A, H, C, REC,
                TC, E, bits, ints, floats,
            )  # fmt: skip
            if stateful:
                h_state[state, :, :units] = H[steps]
                c_state[state, :, :units] = C[steps]
        _merge_outputs(levels, level, work, spots, shared, n)
    return roots, live0, reversed0, seen0, live1, reversed1, seen1


@kernel
def _train_rows(  # type: ignore[no-untyped-def]
    levels, x, x2, tokens, embed, y, per_step, valid, valid2, rows, stateful, h_state, c_state,
    theta, dense, grad, per_row, work, spots, shared, bits, head, delta, metrics, thresholds,
    metric_values, sample_weights,
):  # fmt: skip
    """Forward, loss and backward for one group of a batch (`rows`: its sample indices).

    Adds the group's gradients to `grad` (zeroed by the caller; `per_row` is 1 / the number
    of the batch's loss terms: rows, or rows x steps with a head on every step), writes the
    final states of direction-layer `2 * level + d` to `h_state[2 * level + d]`,
    `c_state[...]` (this group's rows) when `stateful`, each row's metrics to `metric_values
    (n, M)` (a per-step head's: their mean over steps), and returns the sum of its loss
    terms, weighted by `sample_weights`.
    """
    n = rows.shape[0]
    if n == 0:
        return np.float32(0.0)
    n_levels = levels.shape[0]
    ints, floats = np.zeros(8, np.int32), np.zeros(2, np.float32)
    roots, live0, reversed0, seen0, live1, reversed1, seen1 = _forward_levels(
        levels, x, x2, tokens, embed, valid, valid2, rows, stateful, h_state, c_state, theta,
        work, spots, shared, bits,
    )  # fmt: skip
    # ---- the Dense head and the loss -------------------------------------------------------
    top = levels[n_levels - 1]
    outputs, width, steps = head[HEAD_OUTPUTS], top[LV_OUT], top[LV_STEPS]
    loss = np.float32(0.0)
    if per_step:  # every step's output, each a loss term (no masks: the plan declines them)
        Y = _carve(work, spots[n_levels - 1, 2, BUF_Y], steps, n, width)
        dY = _carve(work, spots[n_levels - 1, 2, BUF_DY], steps, n, width)
        loss = sequence_head(
            head, delta, y, rows, Y, theta, dense[0], dense[1], per_row, grad, dY, metrics,
            thresholds, metric_values, sample_weights, ints, floats,
        )  # fmt: skip
    else:  # a row with no valid step outputs zeros, as Keras
        seen = seen0 if roots[n_levels - 1] == 0 else seen1
        OUT = _carve(work, shared[SH_OUT], 1, n, width)[0]
        dOUT = _carve(work, shared[SH_DOUT], 1, n, width)[0]
        zk = np.zeros(outputs, np.float32)  # the head's pre-activations, outputs, gradient
        ok = np.zeros(outputs, np.float32)
        gk = np.zeros(outputs, np.float32)
        for b in range(n):
            weight = sample_weights[rows[b]]
            loss += weight * dense_head(
                head, delta, y[rows[b]], OUT[b], seen[b], theta, dense[0], dense[1],
                per_row * weight, grad, dOUT[b], zk, ok, gk, metrics, thresholds,
                metric_values[b],
            )  # fmt: skip
    # ---- backward, from the last level down (initial states are constants unless an
    # encoder's: truncated BPTT, as Keras) --------------------------------------------------
    dH_all, dC_all = work[shared[SH_DH] :], work[shared[SH_DC] :]
    no_dx = work[:0].reshape(0, 0, 0)
    for level in range(n_levels - 1, -1, -1):
        spec = levels[level]
        cell, units, features = spec[LV_CELL], spec[LV_UNITS], spec[LV_FEATURES]
        steps, gu, merge = spec[LV_STEPS], GATES_BY_CELL[cell] * units, spec[LV_MERGE]
        sequences = spec[LV_SEQUENCES] != 0
        below = spec[LV_SOURCE] == FROM_LEVEL_BELOW
        spot_x = spots[level - 1, 2, BUF_Y] if below else spots[level, 2, BUF_X]
        X = _carve(work, spot_x, steps, n, features)
        dX = no_dx
        if below:
            dX = _carve(work, spots[level - 1, 2, BUF_DY], steps, n, features)
        elif spots[level, 2, BUF_DX] >= 0:  # an Embedding's input
            dX = _carve(work, spots[level, 2, BUF_DX], steps, n, features)
        dY = _carve(work, spots[level, 2, BUF_DY], steps, n, spec[LV_OUT]) if sequences else X
        directions, first = spec[LV_DIRECTIONS], spec[LV_INIT]
        top_last = level == n_levels - 1 and not sequences
        for d in range(directions):
            spot = spots[level, d]
            Xd = X if d == 0 else _carve(work, spot[BUF_XDIR], steps, n, features)
            A = _carve(work, spot[BUF_A], steps, n, gu)
            DZ = _carve(work, spot[BUF_DZ], steps, n, gu)
            H = _carve(work, spot[BUF_H], steps + 1, n, units)
            C = _carve(work, spot[BUF_C], steps + 1, n, units)
            REC, DR = A, DZ
            if cell == CELL_GRU:
                REC = _carve(work, spot[BUF_REC], steps, n, gu)
                DR = _carve(work, spot[BUF_DR], steps, n, gu)
            TC = _carve(work, spot[BUF_TC], steps, n, units) if cell == CELL_LSTM else H
            other = H
            if directions == 2:
                other = _carve(work, spots[level, 1 - d, BUF_H], steps + 1, n, units)
            dH = dH_all[: n * units].reshape(n, units)
            dC = dC_all[: n * units].reshape(n, units)
            dC[:, :] = np.float32(0.0)
            dH[:, :] = np.float32(0.0)
            if spots[level, 2, BUF_DH_FINAL] >= 0:  # a decoder's gradient by these final states
                dH[:, :] = _carve(work, spots[level, 2, BUF_DH_FINAL], 1, n, units)[0]
                dC[:, :] = _carve(work, spots[level, 2, BUF_DC_FINAL], 1, n, units)[0]
            elif top_last:
                _last_output_gradient(
                    merge, directions, d, units, work, shared, width, other, steps, dH
                )
            o = DIRECTION_STRIDE * d
            live = live0 if roots[level] == 0 else live1
            if d == 1:
                live = reversed0 if roots[level] == 0 else reversed1
            _direction_backward(
                cell, units, Xd, live, theta, spec[LV_KERNEL + o], spec[LV_RECURRENT + o],
                spec[LV_BIAS + o], A, H, C, REC, TC, DZ, DR, dH, dC, grad, dY,
                units * d if merge == MERGE_CONCAT else 0, merge, d == 1, other, sequences, dX,
                d == 1, first >= 0, ints, floats,
            )  # fmt: skip
            if first >= 0:  # hand the gradient by the initial states to the encoder
                _carve(work, spots[first, 2, BUF_DH_FINAL], 1, n, units)[0][:, :] = dH
                _carve(work, spots[first, 2, BUF_DC_FINAL], 1, n, units)[0][:, :] = dC
    if embed[0] >= 0:  # each step's input gradient onto its token's row
        steps, dim = levels[0, LV_STEPS], embed[1]
        dX0 = _carve(work, spots[0, 2, BUF_DX], steps, n, dim)
        for t in range(steps):
            for b in range(n):
                at = embed[0] + tokens[rows[b], t] * dim
                for f in range(dim):
                    grad[at + f] += dX0[t, b, f]
    return loss


@kernel
def _zero_token_rows(tokens, rows, embed, vector):  # type: ignore[no-untyped-def]
    """Zeroes the Embedding gradient's rows of the samples' tokens in `vector`: every row
    a batch of `rows` added to (`_train_rows` scatters each step's)."""
    dim = embed[1]
    for s in rows:
        for t in range(tokens.shape[1]):
            at = embed[0] + tokens[s, t] * dim
            vector[at : at + dim] = np.float32(0.0)


@parallel_kernel
def fit_epoch_stack(  # type: ignore[no-untyped-def]
    levels, x, x2, tokens, embed, y, per_step, valid, valid2, order, batch_size, stateful,
    sort_rows, h_state, c_state, theta, dense, m, v, opt, hyper, bounds, first_step, losses,
    head, delta, metrics, thresholds, metric_values, sample_weights, work, spots, shared, bits,
):  # fmt: skip
    """Trains the batches of `order` in place, each split into `parts = work.shape[0]`
    groups trained side by side; `losses[i]` gets batch i's loss.

    Args: `levels (L, COLUMNS)` (`stack_layout`), `x (N, T, F)` float32 features, or with an
    Embedding (`embed`: its table's offset in `theta`, its dimension and rows; offset -1: none)
    `tokens (N, T)` int64 ids; `x2 (N, T2, F2)` a second input (an encoder-decoder's
    decoder input; else `(N, 0, 0)`); `y`: `(N, outputs)` targets, or with `per_step` `(N *
    T, outputs)` for the last level's T steps, step t of sample s at row `s * T + t` (the
    sparse loss: class ids in column 0); `valid (N, T)`, `valid2 (N, T2)` uint8 (1 where the
    step counts); `sort_rows`: order each batch's rows by their valid steps, so that
    padding skips the cell (masked, not stateful: rows keep their states' places); `h_state`, `c_state (2L, B, U)`
    stateful states by direction-layer; `dense`: the head's kernel and bias offsets (-1: no
    bias); the optimizer as `fit_kernel._apply_update` takes it; `head`, `delta`, `metrics`,
    `thresholds` as `head_kernel.head_row`; `metric_values (len(order), M)`;
    `sample_weights (N,)`; `work (parts, floats)`, `spots`, `shared` from
    `stack_layout.workspace_layout`, `bits (parts, ...)` int32 exp scratch.
    """
    parts, n_samples = work.shape[0], order.shape[0]
    terms = levels[levels.shape[0] - 1, LV_STEPS] if per_step else 1  # loss terms per sample
    # group 0 adds its gradient to `grad` itself, the others to their rows of `more`: a
    # zeroing and a sum fewer of the whole weight vector per batch (an Embedding's is long)
    more = np.zeros((parts - 1, theta.shape[0]), np.float32)
    weights = theta.shape[0]
    # clipping by a norm reads the whole gradient; the rest of the update is elementwise
    whole_vector = hyper[HYPER_CLIPNORM] != 0 or hyper[HYPER_GLOBAL_CLIPNORM] != 0
    # An Embedding's gradient has rows only for the batch's tokens: each group zeroes the
    # last batch's, not the whole table (a 20000 x 128 table is 10 MB), in its own vector.
    # A norm's clipping can make every gradient NaN: then the whole vector is zeroed.
    table_from, table_to = embed[0], embed[0] + embed[1] * embed[2]
    sparse_table = embed[0] >= 0 and not whole_vector
    last_rows = order[:0]  # the last batch's samples (none yet: the vectors start at zero)
    group_loss = np.zeros(parts, np.float32)
    grad = np.zeros(theta.shape[0], np.float32)
    batch = 0
    for start in range(0, n_samples, batch_size):
        size = min(batch_size, n_samples - start)
        per_row = np.float32(1.0) / np.float32(size * terms)
        batch_rows = order[start : start + size]
        if sort_rows:  # each sample's metrics land in its sorted place: only their sum is read
            batch_rows = _dealt(_sorted_batch(batch_rows, valid), parts)
        for p in numba.prange(parts):
            lo, hi = p * size // parts, (p + 1) * size // parts
            group_grad = grad if p == 0 else more[p - 1]
            if sparse_table:  # the table's rows are zero but the last batch's tokens'
                group_grad[:table_from] = np.float32(0.0)
                group_grad[table_to:] = np.float32(0.0)
                _zero_token_rows(tokens, last_rows, embed, group_grad)
            else:
                group_grad[:] = np.float32(0.0)
            before = SET_THREADS(1)  # the groups are the parallelism: MKL stays on one thread
            group_loss[p] = _train_rows(
                levels, x, x2, tokens, embed, y, per_step, valid, valid2,
                batch_rows[lo:hi], stateful, h_state[:, lo:hi], c_state[:, lo:hi],
                theta, dense, group_grad, per_row, work[p], spots, shared, bits[p], head, delta,
                metrics, thresholds, metric_values[start + lo : start + hi], sample_weights,
            )  # fmt: skip
            SET_THREADS(before)
        losses[batch] = group_loss.sum() / np.float32(size * terms)
        if whole_vector or parts == 1:
            for p in range(parts - 1):
                grad += more[p]
            _apply_update(opt, theta, grad, m, v, hyper, bounds, first_step + batch)
        else:  # every rule is elementwise: each thread sums and updates its slice of the weights
            for p in numba.prange(parts):
                lo, hi = p * weights // parts, (p + 1) * weights // parts
                for q in range(parts - 1):
                    grad[lo:hi] += more[q, lo:hi]
                _apply_update(
                    opt, theta[lo:hi], grad[lo:hi], m[lo:hi], v[lo:hi], hyper, bounds,
                    first_step + batch,
                )  # fmt: skip
        last_rows = batch_rows
        batch += 1
