"""Epochs of `fit` for `recurrent layer -> Dense`, many batches per numba call.

Forward, backpropagation through time and the optimizer update (Keras's Adam, AdamW, SGD,
RMSprop or Adagrad, with weight decay and clipnorm, clipvalue or global_clipnorm;
`training/update_rules.py` line for line) run batch after batch without returning to
Python: at the sizes of the seeds' recipes (a few units, a few steps, batch 1) eager
PyTorch spends its time on dispatch, autograd bookkeeping and the optimizer's tensor
lists, not on arithmetic. Each sample's loss is weighed by its `sample_weights` entry
(Keras's `sample_weight`, or `class_weight` made per sample).

Layouts are Keras's (`kernel (features, G * units)`, gates side by side); every weight
and optimizer slot lives in one flat float32 vector, addressed by `offsets`
(`codes.OFFSET_*`, laid out by `layout.py`). The step is `cell_steps.forward_step` (the
rollout kernel's too) and `cell_steps.step_gradients` backwards (the batched kernel's too);
the head (Dense, its activation, the loss, the metrics) is `head_kernel.dense_head`. All
arithmetic is float32, as torch's.
"""

from __future__ import annotations

import numpy as np

from unrolled.compiled.cell_steps import forward_step, step_gradients
from unrolled.compiled.codes import (
    BIAS_ROWS_BY_CELL,
    CELL_GRU,
    CELL_LSTM,
    GATES_BY_CELL,
    HEAD_OUTPUTS,
    HYPER_BETA_1,
    HYPER_BETA_2,
    HYPER_CLIPNORM,
    HYPER_CLIPVALUE,
    HYPER_EPSILON,
    HYPER_GLOBAL_CLIPNORM,
    HYPER_LR,
    HYPER_MOMENTUM,
    HYPER_WEIGHT_DECAY,
    OFFSET_BIAS,
    OFFSET_DENSE,
    OFFSET_DENSE_BIAS,
    OFFSET_KERNEL,
    OFFSET_RECURRENT,
    OPT_ADAGRAD,
    OPT_ADAM,
    OPT_NESTEROV,
    OPT_RMSPROP,
    OPT_RMSPROP_MOMENTUM,
    OPT_SGD,
)
from unrolled.compiled.head_kernel import dense_head
from unrolled.compiled.jit import inline_kernel, kernel


@inline_kernel
def _weight_gradients(gru, x_t, h_prev, dz, dr, RT, grad, oK, oR, ob, dh):  # type: ignore[no-untyped-def]
    """Adds one row's step to the weight gradients in `grad`, and `dr @ R^T` to `dh` (U).

    `dz`, `dr (G*U)` are the gradients by the step's input and recurrent pre-activations
    (`cell_steps.step_gradients`). `RT (G*U, U)` is the recurrent kernel transposed, so that
    every inner loop runs along contiguous memory (and vectorizes).
    """
    gu, units = RT.shape
    for f in range(x_t.shape[0]):
        xv = x_t[f]
        base = oK + f * gu
        for j in range(gu):
            grad[base + j] += xv * dz[j]
    if ob >= 0:
        for j in range(gu):
            grad[ob + j] += dz[j]
        if gru:
            for j in range(gu):
                grad[ob + gu + j] += dr[j]
    for k in range(units):
        hv = h_prev[k]
        base = oR + k * gu
        for j in range(gu):
            grad[base + j] += hv * dr[j]
    for j in range(gu):  # dh_prev += dr @ R.T
        d = dr[j]
        for k in range(units):
            dh[k] += d * RT[j, k]


@inline_kernel
def _tensor_norm(grad, start, end):  # type: ignore[no-untyped-def]
    """The L2 norm of `grad[start:end]` as float32 (the sum of squares in float64)."""
    total = 0.0
    for j in range(start, end):
        total += float(grad[j]) * float(grad[j])
    return np.float32(np.sqrt(total))


@inline_kernel
def _scale_gradient(grad, start, end, scale):  # type: ignore[no-untyped-def]
    for j in range(start, end):
        grad[j] = grad[j] * scale


@inline_kernel
def _clip_gradient(grad, hyper, bounds):  # type: ignore[no-untyped-def]
    """Keras's clipping of the batch's gradient, in place (`KerasRule._clip`, its float32 steps):
    `clipnorm` each weight tensor on its own, else `global_clipnorm` all together, else
    `clipvalue` each element. A NaN or infinite global norm makes every gradient NaN, as in Keras.
    """
    clipnorm = np.float32(hyper[HYPER_CLIPNORM])
    global_clipnorm = np.float32(hyper[HYPER_GLOBAL_CLIPNORM])
    clipvalue = np.float32(hyper[HYPER_CLIPVALUE])
    one = np.float32(1.0)
    if clipnorm != 0:
        for t in range(bounds.shape[0] - 1):
            start, end = bounds[t], bounds[t + 1]
            norm = _tensor_norm(grad, start, end)
            if norm < clipnorm:  # torch's clamp(min=): a NaN norm stays NaN
                norm = clipnorm
            _scale_gradient(grad, start, end, one / norm * clipnorm)
    elif global_clipnorm != 0:
        squares = 0.0  # the norm of the tensors' float32 norms, as torch.stack of them
        for t in range(bounds.shape[0] - 1):
            norm = _tensor_norm(grad, bounds[t], bounds[t + 1])
            squares += float(norm) * float(norm)
        norm = np.float32(np.sqrt(squares))
        inverse = one / norm
        most = np.float32(1.0 / float(hyper[HYPER_GLOBAL_CLIPNORM]))
        if inverse > most:  # torch's clamp(max=): NaN stays NaN
            inverse = most
        _scale_gradient(grad, 0, grad.shape[0], global_clipnorm * inverse + (norm - norm))
    elif clipvalue != 0:
        for j in range(grad.shape[0]):
            if grad[j] < -clipvalue:  # comparisons leave a NaN gradient NaN, as torch.clamp
                grad[j] = -clipvalue
            if grad[j] > clipvalue:
                grad[j] = clipvalue


@kernel
def _apply_update(opt, theta, grad, m, v, hyper, bounds, step):  # type: ignore[no-untyped-def]
    """Keras's update rule on the flat vector (see `update_rules.py` for the per-tensor form):
    clip the gradient (in place), decay the weights, then the rule's update.

    `hyper` holds the settings (`codes.HYPER_*`; a clipping value or weight decay of 0: none)
    as the rule's Python floats (float64): what torch computes from them in double, such as
    `1 - beta_2`, is computed here in double too, then each is cast to float32 as torch casts
    a scalar for a float32 tensor. RMSprop reads its `rho` from `beta_1`, keeps its velocity
    in `v` and momentum in `m`; Adagrad keeps its accumulator in `v`. `bounds (tensors + 1,)`
    are where each weight tensor starts in `theta`, then its size: per-tensor clipping reads
    them.
    """
    lr, beta_1 = np.float32(hyper[HYPER_LR]), np.float32(hyper[HYPER_BETA_1])
    epsilon, momentum = np.float32(hyper[HYPER_EPSILON]), np.float32(hyper[HYPER_MOMENTUM])
    n = theta.shape[0]
    _clip_gradient(grad, hyper, bounds)
    if hyper[HYPER_WEIGHT_DECAY] != 0:  # decoupled: `w *= 1 - weight_decay * lr`
        keep = np.float32(1.0 - float(hyper[HYPER_WEIGHT_DECAY]) * float(hyper[HYPER_LR]))
        for j in range(n):
            theta[j] = theta[j] * keep
    if opt == OPT_RMSPROP or opt == OPT_RMSPROP_MOMENTUM:
        w = np.float32(1.0 - float(hyper[HYPER_BETA_1]))
        for j in range(n):
            g = grad[j]
            v[j] = v[j] * beta_1 + w * g * g
            root = np.sqrt(v[j] + epsilon)
            if opt == OPT_RMSPROP:
                theta[j] = theta[j] + (-lr) * (g / root)
            else:
                m[j] = m[j] * momentum + (g / root) * lr
                theta[j] = theta[j] - m[j]
    elif opt == OPT_ADAGRAD:
        for j in range(n):
            g = grad[j]
            v[j] = v[j] + g * g
            theta[j] = theta[j] + (-lr) * (g / np.sqrt(v[j] + epsilon))
    elif opt == OPT_ADAM:
        lr_64, beta_1_64, beta_2_64 = (
            float(hyper[HYPER_LR]),
            float(hyper[HYPER_BETA_1]),
            float(hyper[HYPER_BETA_2]),
        )
        alpha = np.float32(lr_64 * np.sqrt(1.0 - beta_2_64**step) / (1.0 - beta_1_64**step))
        w1 = np.float32(1.0 - beta_1_64)
        w2 = np.float32(1.0 - beta_2_64)
        b2 = np.float32(beta_2_64)
        for j in range(n):
            g = grad[j]
            m[j] = m[j] + w1 * (g - m[j])
            v[j] = v[j] * b2 + w2 * g * g
            theta[j] = theta[j] + (-alpha) * m[j] / (np.sqrt(v[j]) + epsilon)
    elif opt == OPT_SGD:
        for j in range(n):
            theta[j] = theta[j] + (-lr) * grad[j]
    else:
        for j in range(n):
            m[j] = m[j] * momentum + (-lr) * grad[j]
            if opt == OPT_NESTEROV:
                theta[j] = theta[j] + (-lr) * grad[j] + momentum * m[j]
            else:
                theta[j] = theta[j] + m[j]


@kernel
def fit_epoch(  # type: ignore[no-untyped-def]
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
):
    """Trains the batches of `order` in place; returns nothing. `losses[i]` gets batch i's loss.

    Args: `x (N, T, F)`, `y (N, targets)`, `valid (N, T)` uint8 (1 where the step counts;
    Keras masking), `order` sample indices (an epoch's, or a run of whole batches of it),
    `h_state`, `c_state (B, U)` stateful states (read and written when `stateful`), `theta`
    the flat weights, `m`, `v` the optimizer slots, `first_step` Keras's `iterations + 1` at
    the first batch; `opt` (`codes.OPT_*`), `hyper`, `bounds` as `_apply_update` takes them;
    `head`, `delta`, `metrics`, `thresholds` as `head_kernel.head_row` takes them, and
    `metric_values (len(order), M)` gets each sample's metrics, in order. `sample_weights
    (N,)` weigh each sample's loss (Keras's `sample_weight`; the batch loss stays the
    weighted sum over the batch's size).
    """
    n_samples, steps, features = order.shape[0], x.shape[1], x.shape[2]
    outputs = head[HEAD_OUTPUTS]
    gu = GATES_BY_CELL[cell] * units
    oK, oR, ob = offsets[OFFSET_KERNEL], offsets[OFFSET_RECURRENT], offsets[OFFSET_BIAS]
    oD, obd = offsets[OFFSET_DENSE], offsets[OFFSET_DENSE_BIAS]
    K = theta[oK : oK + features * gu].reshape(features, gu)
    R = theta[oR : oR + units * gu].reshape(units, gu)
    B = theta[ob : ob + BIAS_ROWS_BY_CELL[cell] * gu] if ob >= 0 else theta[:0]
    grad = np.zeros(theta.shape[0], np.float32)
    rows = min(batch_size, n_samples)
    H = np.zeros((steps + 1, rows, units), np.float32)  # H[t + 1]: h after step t
    C = np.zeros((steps + 1, rows, units), np.float32)
    A = np.zeros((steps, rows, gu), np.float32)  # gate values
    RH = np.zeros((steps, rows, units), np.float32)  # GRU: h @ recurrent kernel (+ bias), h gate
    TC = np.zeros((rows, units), np.float32)  # LSTM: tanh(c) of the step going backwards
    dH = np.zeros((rows, units), np.float32)
    dC = np.zeros((rows, units), np.float32)
    DZ = np.zeros((rows, gu), np.float32)  # gradients by the input, recurrent pre-activations
    DR = np.zeros((rows, gu), np.float32) if cell == CELL_GRU else DZ  # the same but for GRU
    seen = np.zeros(rows, np.bool_)
    live = np.zeros(rows, np.bool_)  # which rows a step going backwards ran
    RT = np.zeros((gu, units), np.float32)
    z = np.zeros(gu, np.float32)  # scratch for the forward steps
    r = np.zeros(gu, np.float32)
    zk = np.zeros(outputs, np.float32)  # the head's pre-activations, outputs, gradient
    ok = np.zeros(outputs, np.float32)
    gk = np.zeros(outputs, np.float32)
    batch = 0
    for start in range(0, n_samples, batch_size):
        size = min(batch_size, n_samples - start)
        live[size:] = False  # rows past a short last batch
        # ---- forward -------------------------------------------------------------------
        for b in range(size):
            for u in range(units):
                H[0, b, u] = h_state[b, u] if stateful else np.float32(0.0)
                C[0, b, u] = c_state[b, u] if stateful else np.float32(0.0)
            seen[b] = False
        for t in range(steps):
            for b in range(size):
                s = order[start + b]
                if valid[s, t]:
                    seen[b] = True
                    forward_step(
                        cell, x[s, t], H[t, b], C[t, b], K, R, B,
                        A[t, b], RH[t, b], H[t + 1, b], C[t + 1, b], z, r,
                    )  # fmt: skip
                else:  # a masked step leaves the states as they were
                    H[t + 1, b] = H[t, b]
                    C[t + 1, b] = C[t, b]
        loss = np.float32(0.0)
        grad[:] = np.float32(0.0)
        per_row = np.float32(1.0) / np.float32(size)  # the batch loss is the mean of the rows'
        for b in range(size):
            dC[b, :] = np.float32(0.0)
            weight = sample_weights[order[start + b]]
            loss += weight * dense_head(
                head, delta, y[order[start + b]], H[steps, b], seen[b], theta, oD, obd,
                per_row * weight, grad, dH[b], zk, ok, gk, metrics, thresholds,
                metric_values[start + b],
            )  # fmt: skip
        losses[batch] = loss / np.float32(size)
        # ---- backward through time (the initial states are constants: truncated BPTT) ------
        RT[:, :] = R.T
        for t in range(steps - 1, -1, -1):
            for b in range(size):
                live[b] = valid[order[start + b], t] != 0  # else its states passed through
                if live[b] and cell == CELL_LSTM:
                    for u in range(units):
                        TC[b, u] = np.tanh(C[t + 1, b, u])
            step_gradients(cell, A[t], RH[t], H[t], C[t], TC, live, dH, dC, DZ, DR)
            for b in range(size):
                if live[b]:
                    _weight_gradients(
                        cell == CELL_GRU, x[order[start + b], t], H[t, b], DZ[b], DR[b], RT,
                        grad, oK, oR, ob, dH[b],
                    )  # fmt: skip
        if stateful:
            h_state[:size] = H[steps, :size]
            c_state[:size] = C[steps, :size]
        _apply_update(opt, theta, grad, m, v, hyper, bounds, first_step + batch)
        batch += 1
