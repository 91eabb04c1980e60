"""The stack kernel's tables: its levels' spec columns and where each buffer sits in a workspace.

A *level* is one recurrent layer of the model, run in one direction or, for
`Bidirectional`, in two (`directions` 2: the second reads time backwards). Each level is a
row of `levels (L, COLUMNS)` int64 (`LV_*`): its cell (`codes.CELL_*`), units, input
features, directions, merge (`MERGE_*`), whether it returns its whole sequence, its output
width, and per direction where its kernel, recurrent kernel and bias start in the flat
weights (`LV_KERNEL + DIRECTION_STRIDE * d`, ...; bias -1 when absent).

`workspace_layout` carves one thread's workspace for groups of up to `rows` rows: the
kernel reads each buffer's start from `spots (L, 3, BUFFERS)` (`[l, d]` for direction d's
buffers, `[l, 2]` for the level's output sequence and its gradient) and `shared
(SHARED,)`; no offset is computed twice. Plain NumPy (no numba import): the runner sizes
workspaces with it before the kernel is loaded.
"""

from __future__ import annotations

import numpy as np

from unrolled.compiled.codes import CELL_GRU, CELL_LSTM, GATES

LV_CELL, LV_UNITS, LV_FEATURES, LV_DIRECTIONS, LV_MERGE, LV_SEQUENCES, LV_OUT = range(7)
LV_KERNEL, LV_RECURRENT, LV_BIAS = 7, 8, 9  # forward direction's; backward: + DIRECTION_STRIDE
DIRECTION_STRIDE = 3
COLUMNS = 13
MERGE_CONCAT, MERGE_SUM, MERGE_MUL, MERGE_AVE = range(4)
MERGES = {"concat": MERGE_CONCAT, "sum": MERGE_SUM, "mul": MERGE_MUL, "ave": MERGE_AVE}

# A direction's buffers, each in processing order (the backward direction's step k reads time
# T-1-k): gate pre-activations then values, their gradient, h and c (T + 1 rows: the initial
# state first), GRU's recurrent projections and their gradient, LSTM's tanh(c), and (the
# backward direction only) its input reversed in time.
BUF_A, BUF_DZ, BUF_H, BUF_C, BUF_REC, BUF_DR, BUF_TC, BUF_XDIR = range(8)
# A level's output sequence (time order, `(T, n, out)`) and its gradient.
BUF_Y, BUF_DY = 0, 1
BUFFERS = 8
# One group's shared buffers: the first level's input `(T, n, features)` and its gradient
# (for an Embedding's), dh and dc `(n, widest units)`, the exp scratch, the last level's
# output `(n, out)` when it returns its last step, and that output's gradient.
SH_X0, SH_DX0, SH_DH, SH_DC, SH_EXP, SH_OUT, SH_DOUT = range(7)
SHARED = 7


def workspace_layout(
    levels: np.ndarray, steps: int, rows: int, input_width: int, embedded: bool
) -> tuple[np.ndarray, np.ndarray, int]:
    """`(spots, shared, floats)` for groups of up to `rows` rows of `steps` steps.

    `input_width`: the first level's input features (an Embedding's output dimension when
    `embedded`, whose gradient the kernel then keeps). Absent buffers start at -1.
    """
    spots = np.full((len(levels), 3, BUFFERS), -1, np.int64)
    shared = np.full(SHARED, -1, np.int64)
    floats = 0

    def take(size: int) -> int:
        nonlocal floats
        floats += size
        return floats - size

    widest_units = int(levels[:, LV_UNITS].max())
    widest_gates = max(GATES[int(cell)] * int(units) for cell, units in levels[:, :2])
    shared[SH_X0] = take(steps * rows * input_width)
    if embedded:
        shared[SH_DX0] = take(steps * rows * input_width)
    shared[SH_DH] = take(rows * widest_units)
    shared[SH_DC] = take(rows * widest_units)
    shared[SH_EXP] = take(2 * rows * widest_gates)
    top = levels[-1]
    if not top[LV_SEQUENCES]:
        shared[SH_OUT] = take(rows * int(top[LV_OUT]))
        shared[SH_DOUT] = take(rows * int(top[LV_OUT]))
    for index, level in enumerate(levels):
        cell, units = int(level[LV_CELL]), int(level[LV_UNITS])
        gates = GATES[cell] * units
        for d in range(int(level[LV_DIRECTIONS])):
            spot = spots[index, d]
            spot[BUF_A] = take(steps * rows * gates)
            spot[BUF_DZ] = take(steps * rows * gates)
            spot[BUF_H] = take((steps + 1) * rows * units)
            spot[BUF_C] = take((steps + 1) * rows * units)
            if cell == CELL_GRU:
                spot[BUF_REC] = take(steps * rows * gates)
                spot[BUF_DR] = take(steps * rows * gates)
            if cell == CELL_LSTM:
                spot[BUF_TC] = take(steps * rows * units)
            if d == 1:
                spot[BUF_XDIR] = take(steps * rows * int(level[LV_FEATURES]))
        if level[LV_SEQUENCES]:
            spots[index, 2, BUF_Y] = take(steps * rows * int(level[LV_OUT]))
            spots[index, 2, BUF_DY] = take(steps * rows * int(level[LV_OUT]))
    return spots, shared, floats


def exp_scratch_ints(levels: np.ndarray, rows: int) -> int:
    """Length of one group's int32 scratch for the vectorized exp (`batched_kernel._exp`)."""
    return 2 * rows * max(GATES[int(cell)] * int(units) for cell, units in levels[:, :2])
