"""`fit_kernel`'s epochs for batches too big for its row-by-row loops: matrix products and threads.

Same model, step backwards (`cell_steps.step_gradients`), head (`head_kernel.dense_head`),
optimizers (`fit_kernel._apply_update`: Adam, AdamW, SGD, RMSprop, Adagrad, weight decay,
clipnorm, clipvalue, global_clipnorm), sample weights, masking and states as
`fit_kernel.fit_epoch`, and the same arguments plus per-thread workspaces.

Each batch is split into groups of rows, one per workspace, trained side by side on numba's threads (rows are independent until the weight
gradients are summed). Within a group:

- the input projection of every step is one matrix product, `(T*n, F) @ (F, G*U)`;
- each step's recurrent product `(n, U) @ (U, G*U)` and, backwards, `(n, G*U) @ (G*U, U)`
  go to MKL's sgemm (`blas.py`), the routine torch's own CPU matmuls use;
- the weight gradients are one product each over all steps, after the backward loop;
- the gates' sigmoids and tanhs use `_exp`, a polynomial `exp` that vectorizes (numba's
  `np.exp` calls the scalar libm routine, and took a third of torch's whole step alone).

Buffers are laid out step-major, `(T, n, ...)`, so that every product reads contiguous rows.
"""

from __future__ import annotations

import numba
import numpy as np

from unrolled.compiled.blas import GEMM, SET_THREADS, missing
from unrolled.compiled.cell_steps import step_gradients
from unrolled.compiled.codes import (
    CELL_GRU,
    CELL_LSTM,
    CELL_RNN_TANH,
    GATES_BY_CELL,
    HEAD_OUTPUTS,
    OFFSET_BIAS,
    OFFSET_DENSE,
    OFFSET_DENSE_BIAS,
    OFFSET_KERNEL,
    OFFSET_RECURRENT,
)
from unrolled.compiled.fit_kernel import _apply_update
from unrolled.compiled.head_kernel import dense_head
from unrolled.compiled.jit import kernel, parallel_kernel

_NO, _YES = 78, 84  # Fortran's 'N' and 'T'
if missing() is not None:  # the plan declines before importing this module
    raise ImportError(missing())


@kernel
def _gemm(trans_a, trans_b, m, n, k, a, lda, b, ldb, beta, c, ldc, ints, floats):  # type: ignore[no-untyped-def]
    """Row-major `c (m, n) = op(a) @ op(b) + beta * c`; `a`, `b`, `c` are addresses.

    Column-major sgemm computes `c^T = op(b)^T @ op(a)^T`, which is the same memory.
    `ints` (int32[8]) and `floats` (float32[2]) hold the arguments Fortran takes by reference.
    """
    ints[0], ints[1], ints[2] = n, m, k
    ints[3], ints[4], ints[5] = ldb, lda, ldc
    ints[6] = _YES if trans_b else _NO
    ints[7] = _YES if trans_a else _NO
    floats[0], floats[1] = np.float32(1.0), beta
    i, f = ints.ctypes.data, floats.ctypes.data
    GEMM(i + 24, i + 28, i, i + 4, i + 8, f, b, i + 12, a, i + 16, f + 4, c, i + 20)


@kernel
def _exp(x, bits):  # type: ignore[no-untyped-def]
    """`x = exp(x)` in place, within 2 ulp (Cephes's `expf`); `bits` int32 scratch as long as x.

    Written as two plain loops with no calls, so that LLVM vectorizes both.
    """
    scale = bits.view(np.float32)
    for j in range(x.shape[0]):
        v = min(max(x[j], np.float32(-87.3)), np.float32(88.3))
        n = np.floor(v * np.float32(1.44269504088896341) + np.float32(0.5))
        r = v - n * np.float32(0.693359375) - n * np.float32(-2.12194440e-4)  # v - n ln 2
        p = np.float32(1.9875691500e-4)
        p = p * r + np.float32(1.3981999507e-3)
        p = p * r + np.float32(8.3334519073e-3)
        p = p * r + np.float32(4.1665795894e-2)
        p = p * r + np.float32(1.6666665459e-1)
        p = p * r + np.float32(5.0000001201e-1)
        x[j] = p * r * r + r + np.float32(1.0)
        bits[j] = (np.int32(n) + np.int32(127)) << np.int32(23)  # the float 2^n
    for j in range(x.shape[0]):
        x[j] *= scale[j]


@kernel
def work_size(cell, steps, rows, features, units):  # type: ignore[no-untyped-def]
    """Floats of one group's workspace, for groups of up to `rows` rows (`_train_rows` carves it)."""
    gu = GATES_BY_CELL[cell] * units
    per_step = features + 2 * gu + 2 * units  # X; A, DZ; H, C
    if cell == CELL_GRU:
        per_step += 2 * gu  # REC, DR
    if cell == CELL_LSTM:
        per_step += units  # TC
    # H's and C's extra step; dH, dC; the exp scratch
    return rows * (steps * per_step + 2 * units + 2 * units + 2 * gu)


# The pointwise functions below work on one row's views and write one array per loop: LLVM
# vectorizes a loop only when it can check cheaply that the arrays it writes do not overlap
# the ones it reads, and a loop writing three arrays ran 3.8x slower, unvectorized.


@kernel
def _lstm_step(a, c_prev, c_out, tanh_c, h_out, e, bits):  # type: ignore[no-untyped-def]
    """Gates `a (n, 4U)`, pre-activations in, values out (i, f, g, o); the new c, tanh(c), h."""
    n, gu = a.shape
    units = gu // 4
    one, two = np.float32(1.0), np.float32(2.0)
    for b in range(n):
        ab, eb = a[b], e[b * gu : (b + 1) * gu]
        for j in range(gu):
            eb[j] = -ab[j]
        for j in range(2 * units, 3 * units):
            eb[j] = two * ab[j]
    _exp(e[: n * gu], bits)
    for b in range(n):
        ab, eb = a[b], e[b * gu : (b + 1) * gu]
        for j in range(gu):
            ab[j] = one / (one + eb[j])
        for j in range(2 * units, 3 * units):
            ab[j] = one - two * ab[j]  # tanh(x) = 1 - 2 / (exp(2x) + 1)
        i, f, g = ab[:units], ab[units : 2 * units], ab[2 * units : 3 * units]
        cb, eb = c_out[b], e[b * units : (b + 1) * units]
        for u in range(units):
            cb[u] = f[u] * c_prev[b, u] + i[u] * g[u]
        for u in range(units):
            eb[u] = two * cb[u]
    _exp(e[: n * units], bits)
    for b in range(n):
        tb, eb, o = tanh_c[b], e[b * units : (b + 1) * units], a[b, 3 * units :]
        for u in range(units):
            tb[u] = one - two / (eb[u] + one)
        hb = h_out[b]
        for u in range(units):
            hb[u] = o[u] * tb[u]


@kernel
def _gru_step(a, rec, h_prev, h_out, e, bits):  # type: ignore[no-untyped-def]
    """GRU (`reset_after`): input projections `a (n, 3U)` become gate values z, r, h~;
    `rec (n, 3U)` holds the recurrent projections (its h part is what r multiplies)."""
    n, gu = a.shape
    units = gu // 3
    one, two = np.float32(1.0), np.float32(2.0)
    for b in range(n):
        ab, rb, eb = a[b], rec[b], e[b * 2 * units : (b + 1) * 2 * units]
        for j in range(2 * units):
            eb[j] = -(ab[j] + rb[j])
    _exp(e[: n * 2 * units], bits)
    for b in range(n):
        ab, rb = a[b], rec[b]
        eb = e[b * 2 * units : (b + 1) * 2 * units]
        for j in range(2 * units):
            ab[j] = one / (one + eb[j])
        r, x_h, r_h = ab[units : 2 * units], ab[2 * units :], rb[2 * units :]
        eb = e[b * units : (b + 1) * units]
        for u in range(units):
            eb[u] = two * (x_h[u] + r[u] * r_h[u])
    _exp(e[: n * units], bits)
    for b in range(n):
        ab, eb = a[b], e[b * units : (b + 1) * units]
        hh = ab[2 * units :]
        for u in range(units):
            hh[u] = one - two / (eb[u] + one)
        z, hp, hb = ab[:units], h_prev[b], h_out[b]
        for u in range(units):
            hb[u] = z[u] * hp[u] + (one - z[u]) * hh[u]


@kernel
def _simple_step(cell, a, h_out, e, bits):  # type: ignore[no-untyped-def]
    n, units = a.shape
    one, two = np.float32(1.0), np.float32(2.0)
    flat, e_used = a.reshape(n * units), e[: n * units]
    if cell == CELL_RNN_TANH:
        for j in range(n * units):
            e_used[j] = two * flat[j]
        _exp(e_used, bits)
        for j in range(n * units):
            flat[j] = one - two / (e_used[j] + one)
    else:
        for j in range(n * units):
            flat[j] = max(flat[j], np.float32(0.0))
    h_flat = h_out.reshape(n * units)
    for j in range(n * units):
        h_flat[j] = flat[j]


@kernel
def _train_rows(  # type: ignore[no-untyped-def]
    cell,
    units,
    x,
    y,
    valid,
    rows,
    stateful,
    h_state,
    c_state,
    theta,
    offsets,
    grad,
    per_row,
    work,
    bits,
    head,
    delta,
    metrics,
    thresholds,
    metric_values,
    sample_weights,
):
    """Forward, loss and backward for one group of a batch (`rows`: its sample indices).

    Adds the group's gradients to `grad` (zeroed by the caller; `per_row` is 1 / the
    batch's size), writes its final states to `h_state`, `c_state` (this group's rows) when
    `stateful`, each row's metrics to `metric_values (n, M)`, and returns the sum of its
    rows' losses.
    """
    n = rows.shape[0]
    if n == 0:
        return np.float32(0.0)
    steps, features = x.shape[1], x.shape[2]
    outputs = head[HEAD_OUTPUTS]
    gu = GATES_BY_CELL[cell] * units
    is_gru = cell == CELL_GRU
    oK, oR, ob = offsets[OFFSET_KERNEL], offsets[OFFSET_RECURRENT], offsets[OFFSET_BIAS]
    oD, obd = offsets[OFFSET_DENSE], offsets[OFFSET_DENSE_BIAS]
    K_at, R_at = theta[oK:].ctypes.data, theta[oR:].ctypes.data
    ints, floats = np.zeros(8, np.int32), np.zeros(2, np.float32)
    one = np.float32(1.0)
    # ---- the workspace, carved (sizes as in `work_size`) ----------------------------------
    at = 0
    X = work[at : at + steps * n * features].reshape(steps, n, features)  # (T, n, F)
    at += steps * n * features
    A = work[at : at + steps * n * gu].reshape(steps, n, gu)  # pre-activations, then gates
    at += steps * n * gu
    DZ = work[at : at + steps * n * gu].reshape(steps, n, gu)
    at += steps * n * gu
    H = work[at : at + (steps + 1) * n * units].reshape(steps + 1, n, units)  # H[t + 1]: after t
    at += (steps + 1) * n * units
    C = work[at : at + (steps + 1) * n * units].reshape(steps + 1, n, units)
    at += (steps + 1) * n * units
    # GRU only: h @ R + recurrent bias, and its gradient; other cells read A and DZ there
    REC, DR = A, DZ
    if is_gru:
        REC = work[at : at + steps * n * gu].reshape(steps, n, gu)
        at += steps * n * gu
        DR = work[at : at + steps * n * gu].reshape(steps, n, gu)
        at += steps * n * gu
    R_H = REC[:, :, 2 * units :]  # GRU's recurrent h projection; other cells never read it
    TC = C  # tanh(c): LSTM only; other cells never read it
    if cell == CELL_LSTM:
        TC = work[at : at + steps * n * units].reshape(steps, n, units)
        at += steps * n * units
    dH = work[at : at + n * units].reshape(n, units)
    at += n * units
    dC = work[at : at + n * units].reshape(n, units)
    at += n * units
    E = work[at : at + 2 * n * gu]  # exp scratch
    live = np.zeros((steps, n), np.bool_)
    seen = np.zeros(n, np.bool_)
    # ---- forward ---------------------------------------------------------------------------
    for t in range(steps):
        for b in range(n):
            s = rows[b]
            live[t, b] = valid[s, t] != 0
            for f in range(features):
                X[t, b, f] = x[s, t, f]
    for b in range(n):
        for u in range(units):
            H[0, b, u] = h_state[b, u] if stateful else np.float32(0.0)
            C[0, b, u] = c_state[b, u] if stateful else np.float32(0.0)
    A2 = A.reshape(steps * n, gu)
    for r in range(steps * n):
        for j in range(gu):
            A2[r, j] = theta[ob + j] if ob >= 0 else np.float32(0.0)
    _gemm(False, False, steps * n, gu, features, X.ctypes.data, features, K_at, gu, one,
          A.ctypes.data, gu, ints, floats)  # fmt: skip
    for t in range(steps):
        if is_gru:
            for b in range(n):
                for j in range(gu):
                    REC[t, b, j] = theta[ob + gu + j] if ob >= 0 else np.float32(0.0)
            target = REC[t]
        else:
            target = A[t]
        if t > 0 or stateful:  # h @ R (zero at a stateless first step)
            _gemm(False, False, n, gu, units, H[t].ctypes.data, units, R_at, gu, one,
                  target.ctypes.data, gu, ints, floats)  # fmt: skip
        if cell == CELL_LSTM:
            _lstm_step(A[t], C[t], C[t + 1], TC[t], H[t + 1], E, bits)
        elif is_gru:
            _gru_step(A[t], REC[t], H[t], H[t + 1], E, bits)
        else:
            _simple_step(cell, A[t], H[t + 1], E, bits)
        for b in range(n):
            if live[t, b]:
                seen[b] = True
            else:  # a masked step leaves the states as they were
                for u in range(units):
                    H[t + 1, b, u] = H[t, b, u]
                    C[t + 1, b, u] = C[t, b, u]
    # ---- the Dense head and the loss (a row with no valid step outputs zeros, as Keras) -----
    loss = np.float32(0.0)
    zk = np.zeros(outputs, np.float32)  # the head's pre-activations, outputs, gradient
    ok = np.zeros(outputs, np.float32)
    gk = np.zeros(outputs, np.float32)
    for b in range(n):
        dC[b, :] = np.float32(0.0)
        weight = sample_weights[rows[b]]
        loss += weight * dense_head(
            head, delta, y[rows[b]], H[steps, b], seen[b], theta, oD, obd, per_row * weight,
            grad, dH[b], zk, ok, gk, metrics, thresholds, metric_values[b],
        )  # fmt: skip
    # ---- backward through time (the initial states are constants: truncated BPTT) ----------
    for t in range(steps - 1, -1, -1):
        step_gradients(cell, A[t], R_H[t], H[t], C[t], TC[t], live[t], dH, dC, DZ[t], DR[t])
        if t > 0:  # dh_prev += dr @ R^T (nothing flows into the initial state)
            _gemm(False, True, n, units, gu, DR[t].ctypes.data, gu, R_at, gu, one,
                  dH.ctypes.data, units, ints, floats)  # fmt: skip
    # ---- weight gradients: one product each over every step ---------------------------------
    _gemm(True, False, features, gu, steps * n, X.ctypes.data, features, DZ.ctypes.data, gu,
          one, grad[oK:].ctypes.data, gu, ints, floats)  # fmt: skip
    _gemm(True, False, units, gu, steps * n, H.ctypes.data, units, DR.ctypes.data, gu,
          one, grad[oR:].ctypes.data, gu, ints, floats)  # fmt: skip
    if ob >= 0:
        DZ2, DR2 = DZ.reshape(steps * n, gu), DR.reshape(steps * n, gu)
        for r in range(steps * n):
            for j in range(gu):
                grad[ob + j] += DZ2[r, j]
        if is_gru:
            for r in range(steps * n):
                for j in range(gu):
                    grad[ob + gu + j] += DR2[r, j]
    if stateful:
        h_state[:, :] = H[steps]
        c_state[:, :] = C[steps]
    return loss


@parallel_kernel
def fit_epoch_batched(  # type: ignore[no-untyped-def]
    cell,
    units,
    x,
    y,
    valid,
    order,
    batch_size,
    stateful,
    h_state,
    c_state,
    theta,
    offsets,
    m,
    v,
    opt,
    hyper,
    bounds,
    first_step,
    losses,
    head,
    delta,
    metrics,
    thresholds,
    metric_values,
    sample_weights,
    work,
    bits,
):
    """`fit_kernel.fit_epoch`, each batch split into `parts = work.shape[0]` groups trained in
    parallel. `work (parts, work_size(...))` float32 and `bits (parts, 2 * rows * G * units)`
    int32 are the groups' workspaces, kept by the caller between epochs (allocating them
    anew costs page faults on every call)."""
    parts, n_samples = work.shape[0], order.shape[0]
    grads = np.zeros((parts, theta.shape[0]), np.float32)
    group_loss = np.zeros(parts, np.float32)
    grad = np.zeros(theta.shape[0], np.float32)
    batch = 0
    for start in range(0, n_samples, batch_size):
        size = min(batch_size, n_samples - start)
        per_row = np.float32(1.0) / np.float32(size)
        for p in numba.prange(parts):
            lo, hi = p * size // parts, (p + 1) * size // parts
            grads[p, :] = np.float32(0.0)
            before = SET_THREADS(1)  # the groups are the parallelism: MKL stays on one thread
            group_loss[p] = _train_rows(
                cell, units, x, y, valid, order[start + lo : start + hi], stateful,
                h_state[lo:hi], c_state[lo:hi], theta, offsets, grads[p], per_row, work[p],
                bits[p], head, delta, metrics, thresholds, metric_values[start + lo : start + hi],
                sample_weights,
            )  # fmt: skip
            SET_THREADS(before)
        grad[:] = np.float32(0.0)
        for p in range(parts):
            grad += grads[p]
        losses[batch] = group_loss.sum() / np.float32(size)
        _apply_update(opt, theta, grad, m, v, hyper, bounds, first_step + batch)
        batch += 1
