"""The fit kernels' head for one row: Dense, its activation, the loss and its gradient, the metrics.

The epoch kernels (`fit_kernel`, `stack_kernel`) hand each row's last output to
`dense_head`, which computes the Dense pre-activations `z` and its gradients around
`head_row`; a head on every step runs its Dense products over the whole sequence
(`sequence_head`) around the same `head_row`. `head_row` applies the activation (linear,
sigmoid, softmax), the loss as `training/losses.py` defines it (Keras's: probabilities clipped to
`[1e-7, 1 - 1e-7]`, categorical ones renormalized first; `from_logits` both ways), its
gradient with respect to `z` (the chain through the clipping, the renormalization and the
activation, as autograd takes it), and the metrics on the outputs before the update
(`training/metrics.py`'s definitions). All arithmetic is float32, as torch's.

`head (4,)` int64 holds `codes.HEAD_*`: the loss (`LOSS_*`), the activation (`ACT_*`),
`from_logits` (0/1) and the number of outputs. Targets `y_row` are the row's values, or
for the sparse loss its class id at `y_row[0]`.

"""

from __future__ import annotations

import numpy as np

from unrolled.compiled.codes import (
    ACT_SIGMOID,
    ACT_SOFTMAX,
    HEAD_ACTIVATION,
    HEAD_FROM_LOGITS,
    HEAD_LOSS,
    HEAD_OUTPUTS,
    LOSS_BCE,
    LOSS_HUBER,
    LOSS_MAE,
    LOSS_MSE,
    LOSS_SPARSE_CCE,
    METRIC_BINARY_ACCURACY,
    METRIC_CATEGORICAL_ACCURACY,
    METRIC_MAE,
    METRIC_MSE,
)
from unrolled.compiled.jit import inline_kernel, kernel

EPSILON = np.float32(1e-7)  # keras.backend.epsilon(), losses.EPSILON
ONE_MINUS_EPSILON = np.float32(1.0 - 1e-7)
BCE_FLOOR = np.float32(1e-12)  # torch's binary_cross_entropy backward divides by max(q(1-q), this)
LOG_FLOOR = np.float32(-100.0)  # torch's binary_cross_entropy clamps its logs here


@kernel
def _target(y_row, sparse, k):  # type: ignore[no-untyped-def]
    """The row's target for output k (a one-hot value for a class id)."""
    if sparse:
        return np.float32(1.0) if int(y_row[0]) == k else np.float32(0.0)
    return y_row[k]


@kernel
def _argmax(v):  # type: ignore[no-untyped-def]
    """The first index of the largest value (torch.argmax's choice on ties)."""
    best = 0
    for k in range(1, v.shape[0]):
        if v[k] > v[best]:
            best = k
    return best


@kernel
def _loss_and_gradient(loss, from_logits, delta, y_row, o, g):  # type: ignore[no-untyped-def]
    """The row's loss of outputs `o (n)`; fills `g (n)` with its gradient by `o`."""
    n = o.shape[0]
    one, zero = np.float32(1.0), np.float32(0.0)
    per = one / np.float32(n)  # losses other than the categorical ones: mean over outputs
    total = zero
    sparse = loss == LOSS_SPARSE_CCE
    if loss == LOSS_MSE:
        for k in range(n):
            e = o[k] - y_row[k]
            total += e * e
            g[k] = np.float32(2.0) * e * per
        return total * per
    if loss == LOSS_MAE:
        for k in range(n):
            e = o[k] - y_row[k]
            total += abs(e)
            g[k] = (one if e > zero else -one if e < zero else zero) * per
        return total * per
    if loss == LOSS_HUBER:
        for k in range(n):
            e = o[k] - y_row[k]
            if abs(e) < delta:
                total += np.float32(0.5) * e * e
                g[k] = e * per
            else:
                total += delta * (abs(e) - np.float32(0.5) * delta)
                g[k] = (delta if e > zero else -delta) * per
        return total * per
    if loss == LOSS_BCE:
        for k in range(n):
            y = y_row[k]
            if from_logits:  # torch's: (1 - y) x - log(sigmoid(x)), stably
                x = o[k]
                total += (one - y) * x - (min(x, zero) - np.log1p(np.exp(-abs(x))))
                g[k] = (one / (one + np.exp(-x)) - y) * per
            else:
                q = min(max(o[k], EPSILON), ONE_MINUS_EPSILON)
                total -= y * max(np.log(q), LOG_FLOOR) + (one - y) * max(np.log(one - q), LOG_FLOOR)
                inside = EPSILON <= o[k] <= ONE_MINUS_EPSILON  # the clip passes no gradient outside
                g[k] = (q - y) / max((one - q) * q, BCE_FLOOR) * per if inside else zero
        return total * per
    # categorical cross-entropy, y one-hot (or a class id): a sum over outputs
    if from_logits:  # log_softmax
        top = o[_argmax(o)]
        s = zero
        for k in range(n):
            s += np.exp(o[k] - top)
        lse = top + np.log(s)
        y_sum = zero
        for k in range(n):
            y = _target(y_row, sparse, k)
            total -= y * (o[k] - lse)
            y_sum += y
        for k in range(n):
            g[k] = np.exp(o[k] - lse) * y_sum - _target(y_row, sparse, k)
        return total
    s = zero
    for k in range(n):
        s += o[k]
    dot = zero  # sum_k dL/dp_k * o_k, for the renormalization's gradient
    for k in range(n):
        y = _target(y_row, sparse, k)
        p = o[k] / s
        q = min(max(p, EPSILON), ONE_MINUS_EPSILON)
        total -= y * np.log(q)
        dp = -y / q if EPSILON <= p <= ONE_MINUS_EPSILON else zero
        g[k] = dp
        dot += dp * o[k]
    for k in range(n):
        g[k] = g[k] / s - dot / (s * s)
    return total


@kernel
def head_row(head, delta, y_row, z, o, g, metrics, thresholds, metric_row):  # type: ignore[no-untyped-def]
    """One row's head: outputs `o (n)` from the pre-activations `z (n)`, `g (n)` the gradient
    of the row's loss by `z`, `metric_row (M)` the row's value of each metric in `metrics (M)`
    (`METRIC_*`; `thresholds (M)` for binary accuracy). Returns the row's loss."""
    n = z.shape[0]
    act = head[HEAD_ACTIVATION]
    one, zero = np.float32(1.0), np.float32(0.0)
    if act == ACT_SIGMOID:
        for k in range(n):
            o[k] = one / (one + np.exp(-z[k]))
    elif act == ACT_SOFTMAX:
        top = z[_argmax(z)]
        s = zero
        for k in range(n):
            o[k] = np.exp(z[k] - top)
            s += o[k]
        for k in range(n):
            o[k] = o[k] / s
    else:
        for k in range(n):
            o[k] = z[k]
    for j in range(metrics.shape[0]):
        code, value = metrics[j], zero
        if code == METRIC_MSE or code == METRIC_MAE:
            for k in range(n):
                e = o[k] - y_row[k]
                value += e * e if code == METRIC_MSE else abs(e)
            value = value / np.float32(n)
        elif code == METRIC_BINARY_ACCURACY:
            for k in range(n):
                predicted = one if o[k] > thresholds[j] else zero
                value += one if predicted == y_row[k] else zero
            value = value / np.float32(n)
        elif code == METRIC_CATEGORICAL_ACCURACY:
            value = one if _argmax(y_row) == _argmax(o) else zero
        else:  # sparse categorical accuracy
            value = one if int(y_row[0]) == _argmax(o) else zero
        metric_row[j] = value
    # g: the gradient by the outputs, then (below) through the activation, by z
    row_loss = _loss_and_gradient(head[HEAD_LOSS], head[HEAD_FROM_LOGITS] != 0, delta, y_row, o, g)
    if act == ACT_SIGMOID:
        for k in range(n):
            g[k] = g[k] * o[k] * (one - o[k])
    elif act == ACT_SOFTMAX:
        dot = zero
        for k in range(n):
            dot += g[k] * o[k]
        for k in range(n):
            g[k] = o[k] * (g[k] - dot)
    return row_loss


@kernel
def dense_outputs(h, seen, theta, oD, obd, z):  # type: ignore[no-untyped-def]
    """The Dense pre-activations `z (outputs)` of one output `h (U)`: kernel `(U, outputs)`
    at `oD`, bias at `obd` (-1: none). A row with no valid step (`seen` False) gets the
    bias alone (or zeros), as Keras's zero output gives."""
    units, outputs = h.shape[0], z.shape[0]
    D = theta[oD : oD + units * outputs].reshape(units, outputs)
    for k in range(outputs):
        pred = np.float32(0.0)
        if seen:
            for u in range(units):
                pred += h[u] * D[u, k]
        if obd >= 0:
            pred += theta[obd + k]
        z[k] = pred


@inline_kernel
def dense_head(  # type: ignore[no-untyped-def]
    head, delta, y_row, h, seen, theta, oD, obd, per_row, grad, dh, z, o, g,
    metrics, thresholds, metric_row,
):  # fmt: skip
    """`Dense` on one row's last output `h (U)`, then `head_row`; returns the row's loss.

    A row with no valid step (`seen` False) outputs zeros, as Keras: Dense gives its bias, and
    no gradient reaches its kernel or `h`. Adds Dense's gradients (of the batch's mean loss:
    `per_row` is 1 / the batch's size) to `grad` at `oD` (kernel `(U, outputs)`) and `obd`
    (bias; -1: none), and sets `dh (U)` to the gradient by `h`. `z`, `o`, `g (outputs)` are
    scratch; the other arguments are `head_row`'s.
    """
    units, outputs = h.shape[0], head[HEAD_OUTPUTS]
    D = theta[oD : oD + units * outputs].reshape(units, outputs)
    dense_outputs(h, seen, theta, oD, obd, z)
    row_loss = head_row(head, delta, y_row, z, o, g, metrics, thresholds, metric_row)
    dh[:] = np.float32(0.0)
    for k in range(outputs):
        d_pred = g[k] * per_row
        if obd >= 0:
            grad[obd + k] += d_pred
        if seen:
            for u in range(units):
                grad[oD + u * outputs + k] += h[u] * d_pred
                dh[u] += d_pred * D[u, k]
    return row_loss
