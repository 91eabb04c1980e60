"""The batched kernels' building blocks: MKL's sgemm from numba, a vectorized `exp`, and
each fused cell's gate step on a group of rows.

`stack_kernel` (fit) and `predict_kernel` (inference) run every step's products through
`_gemm` (the routine torch's own CPU matmuls use, `blas.py`) on step-major buffers `(T, n,
...)`, so that every product reads contiguous rows, and the gate nonlinearities through the
steps below, whose sigmoids and tanhs use `_exp`, a polynomial `exp` that vectorizes
(numba's `np.exp` calls the scalar libm routine, and took a third of torch's whole step
alone).
"""

from __future__ import annotations

import numpy as np

from unrolled.compiled.blas import GEMM, missing
from unrolled.compiled.codes import (
    CELL_RNN_TANH,
)
from unrolled.compiled.jit import kernel

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
