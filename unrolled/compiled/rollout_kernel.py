"""Generating steps of a frozen model in one numba call: each prediction fed back as input.

A forecast step on torch costs a few operator calls per layer, tens of microseconds of
dispatch for microseconds of arithmetic. Here the whole rollout is one loop.

The model is a table of stages (`spec`, one row per layer, columns `codes.COL_*`) over one
flat float32 weight vector `theta` in Keras layouts, and one flat state vector per
series. Recurrent stages follow `fit_kernel`'s cells; pointwise stages are Dense or an
activation.
"""

from __future__ import annotations

import numpy as np

from unrolled.compiled.codes import (
    ACT_RELU,
    ACT_SIGMOID,
    ACT_TANH,
    CELL_GRU,
    CELL_LSTM,
    CELL_RNN_TANH,
    COL_ACT,
    COL_BIAS,
    COL_IN,
    COL_KERNEL,
    COL_KIND,
    COL_OUT,
    COL_RECURRENT,
    COL_STATE,
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
        return np.float32(1.0) / (np.float32(1.0) + np.exp(-v))
    return v


@kernel
def _run_stages(spec, theta, state, x, work_a, work_b, z, r):  # type: ignore[no-untyped-def]
    """One timestep through every stage; returns the buffer holding the last output."""
    src, dst = work_a, work_b
    size = x.shape[0]
    for j in range(size):
        src[j] = x[j]
    one = np.float32(1.0)
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
        gates = 4 if kind == CELL_LSTM else (3 if kind == CELL_GRU else 1)
        gu = gates * units
        so = spec[stage, COL_STATE]
        for j in range(gu):
            z[j] = theta[ob + j] if ob >= 0 else np.float32(0.0)
            r[j] = np.float32(0.0)
        for f in range(n_in):
            xv = src[f]
            base = oK + f * gu
            for j in range(gu):
                z[j] += xv * theta[base + j]
        for k in range(units):
            hv = state[so + k]
            base = oR + k * gu
            for j in range(gu):
                r[j] += hv * theta[base + j]
        if kind == CELL_LSTM:
            for u in range(units):
                i = one / (one + np.exp(-(z[u] + r[u])))
                fg = one / (one + np.exp(-(z[units + u] + r[units + u])))
                g = np.tanh(z[2 * units + u] + r[2 * units + u])
                o = one / (one + np.exp(-(z[3 * units + u] + r[3 * units + u])))
                c = fg * state[so + units + u] + i * g
                state[so + units + u] = c
                dst[u] = o * np.tanh(c)
        elif kind == CELL_GRU:
            if ob >= 0:
                for j in range(gu):
                    r[j] += theta[ob + gu + j]
            for u in range(units):
                zg = one / (one + np.exp(-(z[u] + r[u])))
                rg = one / (one + np.exp(-(z[units + u] + r[units + u])))
                hh = np.tanh(z[2 * units + u] + rg * r[2 * units + u])
                dst[u] = zg * state[so + u] + (one - zg) * hh
        else:
            for u in range(units):
                v = z[u] + r[u]
                dst[u] = np.tanh(v) if kind == CELL_RNN_TANH else (v if v > 0 else np.float32(0.0))
        for u in range(units):
            state[so + u] = dst[u]
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
    z = np.zeros(width, np.float32)
    r = np.zeros(width, np.float32)
    row = np.zeros(features, np.float32)
    for s in range(series):
        state = states[s]
        for t in range(known):
            last = _run_stages(spec, theta, state, history[s, t], work_a, work_b, z, r)
        for k in range(k_out):
            out[s, 0, k] = last[k]
        for i in range(1, steps):
            for k in range(k_out):
                row[targets[k]] = out[s, i - 1, k]
            for c in range(covariate_columns.shape[0]):
                row[covariate_columns[c]] = covariates[s, i - 1, c]
            last = _run_stages(spec, theta, state, row, work_a, work_b, z, r)
            for k in range(k_out):
                out[s, i, k] = last[k]
