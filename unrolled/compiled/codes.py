"""The numbers the compiled kernels and their plans share (no numba import here).

Cells (`CELL_*`), optimizer rules (`OPT_*`), where each weight starts in the fit
kernel's flat vector (`OFFSET_*`), and the rollout kernel's stage table (`STAGE_*`,
`ACT_*`, `COL_*`).
"""

from __future__ import annotations

import numpy as np

CELL_LSTM, CELL_GRU, CELL_RNN_TANH, CELL_RNN_RELU = 0, 1, 2, 3
GATES = {CELL_LSTM: 4, CELL_GRU: 3, CELL_RNN_TANH: 1, CELL_RNN_RELU: 1}
GATES_BY_CELL = np.array([GATES[k] for k in range(4)], np.int64)
OPT_SGD, OPT_MOMENTUM, OPT_NESTEROV, OPT_ADAM = 0, 1, 2, 3
# Where each weight starts in the fit kernel's flat vector; -1 for an absent bias.
OFFSET_KERNEL, OFFSET_RECURRENT, OFFSET_BIAS, OFFSET_DENSE, OFFSET_DENSE_BIAS = range(5)

STAGE_DENSE, STAGE_ACTIVATION = 10, 11
ACT_LINEAR, ACT_RELU, ACT_TANH, ACT_SIGMOID = 0, 1, 2, 3
# Rollout spec columns: kind, input size, output size, kernel, recurrent kernel, bias (-1:
# none), activation (pointwise stages), offset of the stage's states in a series' state vector.
COL_KIND, COL_IN, COL_OUT, COL_KERNEL, COL_RECURRENT, COL_BIAS, COL_ACT, COL_STATE = range(8)
COLUMNS = 8
