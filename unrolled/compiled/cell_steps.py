"""One step of each fused cell kind, forward and backward: the one home of the kernels' cell math.

`forward_step` is one row's step, the fit kernel's and the rollout kernel's; `step_gradients`
is one row's step backwards, both fit kernels' (`fit_kernel`, `stack_kernel`). Keras
layouts and gate orders (`ops.cell_kinds`): `K (features, G*U)`, `R (units, G*U)`, the bias
flattened, `(G*U,)` or, with two rows (GRU `reset_after=True`), input then recurrent bias
`(2*G*U,)`. Cells by `codes.CELL_*`: LSTM gates i, f, c, o; GRU z, r, h with the reset gate
applied after the recurrent matmul; SimpleRNN tanh or relu. All arithmetic is float32, as
torch's.
"""

from __future__ import annotations

import numpy as np

from unrolled.compiled.codes import CELL_GRU, CELL_LSTM, CELL_RNN_TANH
from unrolled.compiled.jit import inline_kernel, kernel


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


@inline_kernel
def step_gradients(cell, a, r_h, h_prev, c_prev, tanh_c, live, dh, dc, dz, dr):  # type: ignore[no-untyped-def]
    """One step backwards for a group of rows, from the step's gate values `a (n, G*U)`.

    For each live row fills `dz`, the gradient by the input pre-activations, and for GRU
    `dr`, by the recurrent ones (the same values but for the h part; the other cells' are
    `dz`'s). `dh` keeps only its direct path into h_prev (GRU: `dh * z`; others: zero): the
    caller adds `dr @ R^T`. LSTM's `dc` becomes the gradient by c_prev. A row masked at this
    step (`live` False) gets zero `dz` and `dr`, and keeps its dh and dc: its states passed
    through. `r_h (n, U)`: GRU's recurrent h projection, which the reset gate multiplied;
    `tanh_c (n, U)`: LSTM's tanh of the new c.

    Each kind's function indexes the 2-D arrays directly instead of taking per-row views (at
    64 units the views cost as much as the arithmetic: 2.8 against 1.4 us per 16-row step),
    and each of its loops writes one array, so that LLVM can vectorize it.
    """
    for b in range(a.shape[0]):
        if not live[b]:
            dz[b, :] = np.float32(0.0)
            dr[b, :] = np.float32(0.0)
    if cell == CELL_LSTM:
        _lstm_gradients(a, c_prev, tanh_c, live, dh, dc, dz)
    elif cell == CELL_GRU:
        _gru_gradients(a, r_h, h_prev, live, dh, dz, dr)
    else:
        _simple_gradients(cell == CELL_RNN_TANH, a, live, dh, dz)


@kernel
def _lstm_gradients(a, c_prev, tanh_c, live, dh, dc, dz):  # type: ignore[no-untyped-def]
    units = a.shape[1] // 4
    one = np.float32(1.0)
    for b in range(a.shape[0]):
        if not live[b]:
            continue
        for u in range(units):
            t = tanh_c[b, u]
            dc[b, u] = dc[b, u] + dh[b, u] * a[b, 3 * units + u] * (one - t * t)
        for u in range(units):
            i = a[b, u]
            dz[b, u] = dc[b, u] * a[b, 2 * units + u] * i * (one - i)
        for u in range(units):
            f = a[b, units + u]
            dz[b, units + u] = dc[b, u] * c_prev[b, u] * f * (one - f)
        for u in range(units):
            g = a[b, 2 * units + u]
            dz[b, 2 * units + u] = dc[b, u] * a[b, u] * (one - g * g)
        for u in range(units):
            o = a[b, 3 * units + u]
            dz[b, 3 * units + u] = dh[b, u] * tanh_c[b, u] * o * (one - o)
        for u in range(units):
            dc[b, u] = dc[b, u] * a[b, units + u]
        for u in range(units):
            dh[b, u] = np.float32(0.0)


@kernel
def _gru_gradients(a, r_h, h_prev, live, dh, dz, dr):  # type: ignore[no-untyped-def]
    units = dh.shape[1]
    one = np.float32(1.0)
    for b in range(a.shape[0]):
        if not live[b]:
            continue
        for u in range(units):  # the candidate h~'s
            z, hh = a[b, u], a[b, 2 * units + u]
            dz[b, 2 * units + u] = dh[b, u] * (one - z) * (one - hh * hh)
        for u in range(units):
            z, hh = a[b, u], a[b, 2 * units + u]
            dz[b, u] = dh[b, u] * (h_prev[b, u] - hh) * z * (one - z)
        for u in range(units):
            r = a[b, units + u]
            dz[b, units + u] = dz[b, 2 * units + u] * r_h[b, u] * r * (one - r)
        for j in range(2 * units):
            dr[b, j] = dz[b, j]
        for u in range(units):
            dr[b, 2 * units + u] = dz[b, 2 * units + u] * a[b, units + u]
        for u in range(units):
            dh[b, u] = dh[b, u] * a[b, u]


@kernel
def _simple_gradients(tanh, a, live, dh, dz):  # type: ignore[no-untyped-def]
    units = dh.shape[1]
    one = np.float32(1.0)
    for b in range(a.shape[0]):
        if not live[b]:
            continue
        if tanh:
            for u in range(units):
                dz[b, u] = dh[b, u] * (one - a[b, u] * a[b, u])
        else:
            for u in range(units):
                dz[b, u] = dh[b, u] if a[b, u] > 0 else np.float32(0.0)
        for u in range(units):
            dh[b, u] = np.float32(0.0)
