"""Generating steps of a frozen model in one numba call: each prediction fed back as input.

A forecast step on torch costs a few operator calls per layer, tens of microseconds of
dispatch for microseconds of arithmetic. Here the whole rollout is one loop.

The model is a table of stages (`spec`, one row per layer, columns `codes.COL_*`) over one
flat float32 weight vector `theta` in Keras layouts, and one flat state vector per
series. Recurrent stages run `cell_steps.forward_step`, the fit kernel's step, on 2-D
views of `theta`; pointwise stages are Dense or an activation.
"""

from __future__ import annotations

import numpy as np

from unrolled.compiled.cell_steps import forward_step, sigmoid
from unrolled.compiled.codes import (
    ACT_RELU,
    ACT_SIGMOID,
    ACT_TANH,
    BIAS_ROWS_BY_CELL,
    COL_ACT,
    COL_BIAS,
    COL_IN,
    COL_KERNEL,
    COL_KIND,
    COL_OUT,
    COL_RECURRENT,
    COL_STATE,
    GATES_BY_CELL,
    STAGE_ACTIVATION,
    STAGE_DENSE,
)
from unrolled.compiled.jit import kernel


@kernel
def _activate(act, v):  # type: ignore[no-untyped-def]
    if act == ACT_RELU:
        return v if v > 0 else np.float32(0.0)
    if act == ACT_TANH:
        return np.tanh(v)
    if act == ACT_SIGMOID:
        return sigmoid(v)
    return v


@kernel
def _run_stages(spec, theta, state, x, work_a, work_b, scratch):  # type: ignore[no-untyped-def]
    """One timestep through every stage; returns the buffer holding the last output.

    `scratch (4, width)`: the step's input and recurrent projections, gate values, GRU's h part.
    """
    src, dst = work_a, work_b
    size = x.shape[0]
    for j in range(size):
        src[j] = x[j]
    for stage in range(spec.shape[0]):
        kind, n_in, n_out = spec[stage, COL_KIND], spec[stage, COL_IN], spec[stage, COL_OUT]
        oK, oR, ob = spec[stage, COL_KERNEL], spec[stage, COL_RECURRENT], spec[stage, COL_BIAS]
        if kind == STAGE_ACTIVATION:
            for j in range(n_in):
                src[j] = _activate(spec[stage, COL_ACT], src[j])
            continue
        if kind == STAGE_DENSE:
            for j in range(n_out):
                dst[j] = theta[ob + j] if ob >= 0 else np.float32(0.0)
            for f in range(n_in):
                xv = src[f]
                base = oK + f * n_out
                for j in range(n_out):
                    dst[j] += xv * theta[base + j]
            for j in range(n_out):
                dst[j] = _activate(spec[stage, COL_ACT], dst[j])
            src, dst = dst, src
            continue
        units = n_out
        gu = GATES_BY_CELL[kind] * units
        K = theta[oK : oK + n_in * gu].reshape(n_in, gu)
        R = theta[oR : oR + units * gu].reshape(units, gu)
        B = theta[ob : ob + BIAS_ROWS_BY_CELL[kind] * gu] if ob >= 0 else theta[:0]
        so = spec[stage, COL_STATE]
        h = state[so : so + units]
        c = state[so + units : so + 2 * units]  # an LSTM's c, updated in place
        z, r, acts, rec_h = scratch[0, :gu], scratch[1, :gu], scratch[2, :gu], scratch[3, :units]
        forward_step(kind, src[:n_in], h, c, K, R, B, acts, rec_h, dst[:units], c, z, r)
        h[:] = dst[:units]
        src, dst = dst, src
    return src


@kernel
def rollout(
    spec, theta, states, history, steps, targets, covariate_columns, covariates, width, out
):  # type: ignore[no-untyped-def]
    """Warms up on `history (S, T, F)`, then fills `out (S, steps, K)`, feeding each prediction back.

    `states (S, state size)` start as given (zeros for a fresh rollout) and are updated in
    place; `covariates (S, steps, C)` hold the known columns (`covariate_columns`) of the
    rows fed back, `targets (K,)` the input column of each predicted value.
    """
    series, known, features = history.shape
    k_out = out.shape[2]
    work_a = np.zeros(width, np.float32)
    work_b = np.zeros(width, np.float32)
    scratch = np.zeros((4, width), np.float32)
    row = np.zeros(features, np.float32)
    for s in range(series):
        state = states[s]
        for t in range(known):
            last = _run_stages(spec, theta, state, history[s, t], work_a, work_b, scratch)
        for k in range(k_out):
            out[s, 0, k] = last[k]
        for i in range(1, steps):
            for k in range(k_out):
                row[targets[k]] = out[s, i - 1, k]
            for c in range(covariate_columns.shape[0]):
                row[covariate_columns[c]] = covariates[s, i - 1, c]
            last = _run_stages(spec, theta, state, row, work_a, work_b, scratch)
            for k in range(k_out):
                out[s, i, k] = last[k]
