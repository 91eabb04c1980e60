"""The Dense head on every step of a group of rows at once: three matrix products around `head_row`.

A head on every step (`return_sequences` into `TimeDistributed(Dense)` or `Dense` on 3-D)
sees `steps x rows` outputs per group. Row by row (`head_kernel.dense_head`), its kernel
products ran as scalar loops and took about a third of a tagger's epoch; here they are
MKL products over the whole step-major sequence `Y (T, n, width)`, and only the
activation, loss, gradient and metrics stay per row (`head_row`, the one home of their
math). Sums run in a different order than row by row, within float32 rounding.
"""

from __future__ import annotations

import numpy as np

from unrolled.compiled.batched_kernel import _gemm
from unrolled.compiled.codes import HEAD_OUTPUTS
from unrolled.compiled.head_kernel import head_row
from unrolled.compiled.jit import kernel


@kernel
def dense_rows(Y2, theta, oD, obd, Z2, ints, floats):  # type: ignore[no-untyped-def]
    """`Z2 (r, outputs) = Y2 (r, width) @ kernel + bias`: kernel `(width, outputs)` at `oD`
    in `theta`, bias at `obd` (-1: none), added first as torch's `addmm` does.

    Computed as `Z2^T = kernel^T @ Y2^T`, then copied across: with a few outputs MKL's
    sgemm ran the product the other way round at 4-8 GFLOP/s (5 outputs: 6x slower)."""
    r, width = Y2.shape
    outputs = Z2.shape[1]
    Zt = np.empty((outputs, r), np.float32)  # (outputs, r)
    beta = np.float32(0.0)
    if obd >= 0:
        for k in range(outputs):
            Zt[k, :] = theta[obd + k]
        beta = np.float32(1.0)
    _gemm(True, True, outputs, r, width, theta[oD:].ctypes.data, outputs, Y2.ctypes.data,
          width, beta, Zt.ctypes.data, r, ints, floats)  # fmt: skip
    for i in range(r):
        for k in range(outputs):
            Z2[i, k] = Zt[k, i]


@kernel
def sequence_head(  # type: ignore[no-untyped-def]
    head, delta, y, rows, Y, theta, oD, obd, per_row, grad, dY, metrics, thresholds,
    metric_values, sample_weights, ints, floats,
):  # fmt: skip
    """The head on every step of `Y (T, n, width)` (step-major: row `t * n + b` of its
    flattened view is step t of the group's row b); returns the group's loss, each term
    weighted by its sample's `sample_weights[rows[b]]`.

    Targets: step t of sample s at `y[s * T + t]`. Adds the Dense kernel's and bias's
    gradients (of the batch's mean loss: `per_row` is 1 / its loss terms) to `grad` at
    `oD`, `obd`; sets `dY (T, n, width)` to the gradient by `Y`; `metric_values (n, M)` to
    each row's metrics, their mean over steps.
    """
    steps, n, width = Y.shape
    outputs = head[HEAD_OUTPUTS]
    Y2, dY2 = Y.reshape(steps * n, width), dY.reshape(steps * n, width)  # (T * n, width)
    Z = np.empty((steps * n, outputs), np.float32)  # pre-activations, then (G) their gradient
    G = np.empty((steps * n, outputs), np.float32)
    o = np.empty(outputs, np.float32)
    metric_row = np.zeros(metrics.shape[0], np.float32)
    dense_rows(Y2, theta, oD, obd, Z, ints, floats)
    loss = np.float32(0.0)
    for b in range(n):
        metric_values[b, :] = np.float32(0.0)
        weight = sample_weights[rows[b]]
        scale = per_row * weight
        for t in range(steps):
            i = t * n + b
            loss += weight * head_row(
                head, delta, y[rows[b] * steps + t], Z[i], o, G[i], metrics, thresholds,
                metric_row,
            )  # fmt: skip
            for k in range(outputs):
                G[i, k] *= scale
            for j in range(metric_row.shape[0]):
                metric_values[b, j] += metric_row[j] / np.float32(steps)
    # the kernel's gradient (width, outputs) += Y^T @ G, computed as G^T @ Y (outputs, width)
    # for the reason `dense_rows` gives; the bias's: G's column sums
    dDt = np.empty((outputs, width), np.float32)
    _gemm(True, False, outputs, width, steps * n, G.ctypes.data, outputs, Y2.ctypes.data,
          width, np.float32(0.0), dDt.ctypes.data, width, ints, floats)  # fmt: skip
    for u in range(width):
        for k in range(outputs):
            grad[oD + u * outputs + k] += dDt[k, u]
    if obd >= 0:
        for i in range(steps * n):
            for k in range(outputs):
                grad[obd + k] += G[i, k]
    # dY = G @ kernel^T (T * n, width)
    _gemm(False, True, steps * n, width, outputs, G.ctypes.data, outputs,
          theta[oD:].ctypes.data, outputs, np.float32(0.0), dY2.ctypes.data, width, ints,
          floats)  # fmt: skip
    return loss
