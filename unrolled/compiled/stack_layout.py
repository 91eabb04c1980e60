"""The stack kernel's tables: its levels' spec columns and where each buffer sits in a workspace.

A *level* is one recurrent layer of the model, run in one direction or, for
`Bidirectional`, in two (`directions` 2: the second reads time backwards). Each level is a
row of `levels (L, COLUMNS)` int64 (`LV_*`): its cell (`codes.CELL_*`), units, input
features, directions, merge (`MERGE_*`), whether it returns its whole sequence, its output
width, its steps, where its input comes from (`LV_SOURCE`: the level before, or model input
0 or 1), which level's final states start it (`LV_INIT`: an encoder's, or -1), and per
direction where its kernel, recurrent kernel and bias start in the flat weights
(`LV_KERNEL + DIRECTION_STRIDE * d`, ...; bias -1 when absent).

`workspace_layout` carves one thread's workspace for groups of up to `rows` rows: the
kernel reads each buffer's start from `spots (L, 3, BUFFERS)` (`[l, d]` for direction d's
buffers, `[l, 2]` for the level's own) and `shared (SHARED,)`; no offset is computed
twice. Plain NumPy (no numba import): the runner sizes workspaces with it before the
kernel is loaded.
"""

from __future__ import annotations

import numpy as np

from unrolled.compiled.codes import CELL_GRU, CELL_LSTM, GATES

LV_CELL, LV_UNITS, LV_FEATURES, LV_DIRECTIONS, LV_MERGE, LV_SEQUENCES, LV_OUT = range(7)
LV_STEPS, LV_SOURCE, LV_INIT = 7, 8, 9
LV_KERNEL, LV_RECURRENT, LV_BIAS = 10, 11, 12  # forward direction's; backward: + DIRECTION_STRIDE
DIRECTION_STRIDE = 3
COLUMNS = 16
FROM_LEVEL_BELOW = -1  # LV_SOURCE: the level before's output sequence (else the input's index)
MERGE_CONCAT, MERGE_SUM, MERGE_MUL, MERGE_AVE = range(4)
MERGES = {"concat": MERGE_CONCAT, "sum": MERGE_SUM, "mul": MERGE_MUL, "ave": MERGE_AVE}

# A direction's buffers, each in processing order (the backward direction's step k reads time
# T-1-k): gate pre-activations then values, their gradient, h and c (T + 1 rows: the initial
# state first), GRU's recurrent projections and their gradient, LSTM's tanh(c), and (the
# backward direction only) its input reversed in time.
BUF_A, BUF_DZ, BUF_H, BUF_C, BUF_REC, BUF_DR, BUF_TC, BUF_XDIR = range(8)
# A level's own: its output sequence (time order, `(T, n, out)`) and its gradient; its input
# `(T, n, features)` when it reads a model input, and that input's gradient (an Embedding's);
# the gradient by its final h and c `(n, U)` when its states start another level.
BUF_Y, BUF_DY, BUF_X, BUF_DX, BUF_DH_FINAL, BUF_DC_FINAL = range(6)
BUFFERS = 8
# One group's shared buffers: dh and dc `(n, widest units)`, the exp scratch, the last
# level's output `(n, out)` when it returns its last step, and that output's gradient.
SH_DH, SH_DC, SH_EXP, SH_OUT, SH_DOUT = range(5)
SHARED = 5


def workspace_layout(
    levels: np.ndarray, rows: int, embedded: bool
) -> tuple[np.ndarray, np.ndarray, int]:
    """`(spots, shared, floats)` for groups of up to `rows` rows.

    `embedded`: the first level reads an Embedding's rows, whose gradient the kernel keeps.
    Absent buffers start at -1.
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
    shared[SH_DH] = take(rows * widest_units)
    shared[SH_DC] = take(rows * widest_units)
    shared[SH_EXP] = take(2 * rows * widest_gates)
    top = levels[-1]
    if not top[LV_SEQUENCES]:
        shared[SH_OUT] = take(rows * int(top[LV_OUT]))
        shared[SH_DOUT] = take(rows * int(top[LV_OUT]))
    starts_another = set(int(source) for source in levels[:, LV_INIT] if source >= 0)
    for index, level in enumerate(levels):
        cell, units, steps = int(level[LV_CELL]), int(level[LV_UNITS]), int(level[LV_STEPS])
        features, gates = int(level[LV_FEATURES]), GATES[cell] * units
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
                spot[BUF_XDIR] = take(steps * rows * features)
        own = spots[index, 2]
        if level[LV_SEQUENCES]:
            own[BUF_Y] = take(steps * rows * int(level[LV_OUT]))
            own[BUF_DY] = take(steps * rows * int(level[LV_OUT]))
        if level[LV_SOURCE] != FROM_LEVEL_BELOW:
            own[BUF_X] = take(steps * rows * features)
            if embedded and index == 0:
                own[BUF_DX] = take(steps * rows * features)
        if index in starts_another:
            own[BUF_DH_FINAL] = take(rows * units)
            own[BUF_DC_FINAL] = take(rows * units)
    return spots, shared, floats


def exp_scratch_ints(levels: np.ndarray, rows: int) -> int:
    """Length of one group's int32 scratch for the vectorized exp (`batched_kernel._exp`)."""
    return 2 * rows * max(GATES[int(cell)] * int(units) for cell, units in levels[:, :2])


def forward_work(levels: np.ndarray, rows: int) -> int:
    """Multiply-adds of a batch of `rows` rows' forward pass: each direction's input and
    recurrent products over its steps."""
    work = 0
    for level in levels:
        gates = GATES[int(level[LV_CELL])] * int(level[LV_UNITS])
        inputs = int(level[LV_UNITS]) + int(level[LV_FEATURES])
        work += int(level[LV_DIRECTIONS]) * rows * int(level[LV_STEPS]) * gates * inputs
    return work
