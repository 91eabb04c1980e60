"""The numbers the compiled kernels and their plans share (no numba import here).

Cells (`CELL_*`, each fused operator's `kernel_code` in `ops.cell_kinds`), optimizer rules
(`OPT_*`), which weight each slot of the fit kernel's `offsets` holds (`OFFSET_*`, filled
by `layout.py`), the fit kernels' head (`LOSS_*`, `METRIC_*`, `HEAD_*`), and the rollout
kernel's stage table (`STAGE_*`, `ACT_*`, `COL_*`).
Module-level ints and arrays: numba compiles them into the kernels as constants.
"""

from __future__ import annotations

import numpy as np

from unrolled.ops.cell_kinds import CELL_KINDS, GRU, LSTM, SIMPLE_RNN

CELL_LSTM = LSTM.fused["tanh"].kernel_code
CELL_GRU = GRU.fused["tanh"].kernel_code
CELL_RNN_TANH = SIMPLE_RNN.fused["tanh"].kernel_code
CELL_RNN_RELU = SIMPLE_RNN.fused["relu"].kernel_code
_KIND_OF_CELL = {op.kernel_code: kind for kind in CELL_KINDS for op in kind.fused.values()}
GATES = {code: kind.gate_count for code, kind in _KIND_OF_CELL.items()}
# Indexed by cell code: gate blocks, and rows of the bias (GRU: input and recurrent).
GATES_BY_CELL = np.array([GATES[code] for code in range(len(GATES))], np.int64)
BIAS_ROWS_BY_CELL = np.array([_KIND_OF_CELL[c].bias_rows for c in range(len(GATES))], np.int64)
OPT_SGD, OPT_MOMENTUM, OPT_NESTEROV, OPT_ADAM, OPT_RMSPROP, OPT_RMSPROP_MOMENTUM = range(6)
OPT_ADAGRAD = 6
# The update's settings in the kernels' `hyper` float64 array (`UpdatePlan.hyper`):
# RMSprop's rho sits at HYPER_BETA_1; a clipping value of 0 means none.
HYPER_LR, HYPER_BETA_1, HYPER_BETA_2, HYPER_EPSILON, HYPER_MOMENTUM = range(5)
HYPER_WEIGHT_DECAY, HYPER_CLIPNORM, HYPER_CLIPVALUE, HYPER_GLOBAL_CLIPNORM = range(5, 9)
HYPER_SIZE = 9
# The fit kernel's `offsets`: where each weight starts in its flat vector; -1 for an absent bias.
OFFSET_KERNEL, OFFSET_RECURRENT, OFFSET_BIAS, OFFSET_DENSE, OFFSET_DENSE_BIAS = range(5)

STAGE_DENSE, STAGE_ACTIVATION = 10, 11
ACT_LINEAR, ACT_RELU, ACT_TANH, ACT_SIGMOID, ACT_SOFTMAX = 0, 1, 2, 3, 4
# The fit kernels' head (`head_kernel.py`): its loss (`LOSS_*`), and the metrics (`METRIC_*`)
# computed on its outputs before each update. `HEAD_*` index the kernel's `head` int array.
LOSS_MSE, LOSS_MAE, LOSS_HUBER, LOSS_BCE, LOSS_CCE, LOSS_SPARSE_CCE = range(6)
METRIC_MSE, METRIC_MAE, METRIC_BINARY_ACCURACY, METRIC_CATEGORICAL_ACCURACY = range(4)
METRIC_SPARSE_ACCURACY = 4
HEAD_LOSS, HEAD_ACTIVATION, HEAD_FROM_LOGITS, HEAD_OUTPUTS = range(4)
# Rollout spec columns: kind, input size, output size, kernel, recurrent kernel, bias (-1:
# none), activation (pointwise stages), offset of the stage's states in a series' state vector.
COL_KIND, COL_IN, COL_OUT, COL_KERNEL, COL_RECURRENT, COL_BIAS, COL_ACT, COL_STATE = range(8)
COLUMNS = 8
