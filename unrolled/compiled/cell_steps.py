"""One forward step of each fused cell kind, for one row: the fit and rollout kernels' cell.

Keras layouts and gate orders (`ops.cell_kinds`): `K (features, G*U)`, `R (units, G*U)`,
the bias flattened, `(G*U,)` or, with two rows (GRU `reset_after=True`), input then
recurrent bias `(2*G*U,)`. Cells by `codes.CELL_*`: LSTM gates i, f, c, o; GRU z, r, h
with the reset gate applied after the recurrent matmul; SimpleRNN tanh or relu. All
arithmetic is float32, as torch's.

numba's disk cache checks only the file of the kernel it compiled, not the files of the
functions it calls: after editing this file, touch `fit_kernel.py` and `rollout_kernel.py`
(or clear the cache) so that they compile again.
"""

from __future__ import annotations

import numpy as np

from unrolled.compiled.codes import CELL_GRU, CELL_LSTM, CELL_RNN_TANH
from unrolled.compiled.jit import kernel


@kernel
def sigmoid(v):  # type: ignore[no-untyped-def]
    return np.float32(1.0) / (np.float32(1.0) + np.exp(-v))


@kernel
def forward_step(cell, x_t, h_prev, c_prev, K, R, bias, acts, rec_h, h_out, c_out, z, r):  # type: ignore[no-untyped-def]
    """Fills `acts (G*U)` with the gate values, `rec_h (U)` (GRU: the recurrent h projection,
    bias included, which the reset gate multiplies), `h_out` and `c_out (U)` (LSTM).

    `bias` is empty without one. `z`, `r (G*U)` are scratch: the input and recurrent
    projections. `c_out` may be `c_prev` (each unit is read before it is written).
    """
    units, gu = R.shape
    one = np.float32(1.0)
    z[:] = np.float32(0.0)
    for f in range(x_t.shape[0]):
        xv = x_t[f]
        for j in range(gu):
            z[j] += xv * K[f, j]
    if bias.shape[0]:
        for j in range(gu):
            z[j] += bias[j]
    r[:] = np.float32(0.0)
    for k in range(units):
        hv = h_prev[k]
        for j in range(gu):
            r[j] += hv * R[k, j]
    if cell == CELL_LSTM:
        for u in range(units):
            i = sigmoid(z[u] + r[u])
            fg = sigmoid(z[units + u] + r[units + u])
            g = np.tanh(z[2 * units + u] + r[2 * units + u])
            o = sigmoid(z[3 * units + u] + r[3 * units + u])
            c = fg * c_prev[u] + i * g
            acts[u], acts[units + u], acts[2 * units + u], acts[3 * units + u] = i, fg, g, o
            c_out[u] = c
            h_out[u] = o * np.tanh(c)
    elif cell == CELL_GRU:
        if bias.shape[0]:
            for j in range(gu):
                r[j] += bias[gu + j]
        for u in range(units):
            zg = sigmoid(z[u] + r[u])
            rg = sigmoid(z[units + u] + r[units + u])
            hh = np.tanh(z[2 * units + u] + rg * r[2 * units + u])
            acts[u], acts[units + u], acts[2 * units + u] = zg, rg, hh
            rec_h[u] = r[2 * units + u]
            h_out[u] = zg * h_prev[u] + (one - zg) * hh
    else:
        for u in range(units):
            v = z[u] + r[u]
            if cell == CELL_RNN_TANH:
                v = np.tanh(v)
            elif v < 0:
                v = np.float32(0.0)
            acts[u] = v
            h_out[u] = v
