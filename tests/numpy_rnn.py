"""A small NumPy reference for Keras's recurrent layers, written from Keras's formulas.

Weights are in Keras's layout: `kernel (F, G*U)`, `recurrent_kernel (U, G*U)` and the
bias, with gates side by side (LSTM i, f, c, o; GRU z, r, h). Computed in float64 so
that it is an oracle for float32 code, not a copy of it.

`run` applies Keras's masking rule: a masked step keeps every state and repeats the
previous output (zeros before the first valid step); with `zero_output_for_mask` a
masked step outputs zeros. With `go_backwards` the input and the mask are reversed
and the outputs come in processing order.
"""

from __future__ import annotations

import numpy as np


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def hard_sigmoid(x: np.ndarray) -> np.ndarray:
    # Keras 3: relu6(x + 3) / 6
    return np.clip(x + 3.0, 0.0, 6.0) / 6.0


ACTIVATIONS = {"tanh": np.tanh, "sigmoid": sigmoid, "relu": relu, "hard_sigmoid": hard_sigmoid}


def lstm_step(x, states, weights, activation="tanh", recurrent_activation="sigmoid"):
    kernel, recurrent_kernel, *rest = weights
    act, rec = ACTIVATIONS[activation], ACTIVATIONS[recurrent_activation]
    h, c = states
    u = h.shape[1]
    z = x @ kernel + h @ recurrent_kernel
    if rest:
        z = z + rest[0]
    i = rec(z[:, :u])
    f = rec(z[:, u : 2 * u])
    g = act(z[:, 2 * u : 3 * u])
    o = rec(z[:, 3 * u :])
    c_new = f * c + i * g
    h_new = o * act(c_new)
    return h_new, [h_new, c_new]


def gru_step(
    x, states, weights, reset_after=True, activation="tanh", recurrent_activation="sigmoid"
):
    kernel, recurrent_kernel, *rest = weights
    act, rec = ACTIVATIONS[activation], ACTIVATIONS[recurrent_activation]
    (h,) = states
    u = h.shape[1]
    if rest and reset_after:
        b_in, b_rec = rest[0][0], rest[0][1]
    elif rest:
        b_in, b_rec = rest[0], np.zeros(3 * u)
    else:
        b_in = b_rec = np.zeros(3 * u)
    xz = x @ kernel[:, :u] + b_in[:u]
    xr = x @ kernel[:, u : 2 * u] + b_in[u : 2 * u]
    xh = x @ kernel[:, 2 * u :] + b_in[2 * u :]
    z = rec(xz + h @ recurrent_kernel[:, :u] + b_rec[:u])
    r = rec(xr + h @ recurrent_kernel[:, u : 2 * u] + b_rec[u : 2 * u])
    if reset_after:
        hh = act(xh + r * (h @ recurrent_kernel[:, 2 * u :] + b_rec[2 * u :]))
    else:
        hh = act(xh + (r * h) @ recurrent_kernel[:, 2 * u :])
    h_new = z * h + (1.0 - z) * hh
    return h_new, [h_new]


def simple_rnn_step(x, states, weights, activation="tanh"):
    kernel, recurrent_kernel, *rest = weights
    (h,) = states
    z = x @ kernel + h @ recurrent_kernel
    if rest:
        z = z + rest[0]
    out = ACTIVATIONS[activation](z)
    return out, [out]


def run(step, x, initial_states, mask=None, go_backwards=False, zero_output_for_mask=False):
    """Runs `step(x_t, states) -> (out, new_states)` over `x (B, T, F)` with Keras masking.

    Returns `(outputs (B, T, U), final_states)`.
    """
    x = np.asarray(x, dtype=np.float64)
    batch, steps = x.shape[:2]
    mask = np.ones((batch, steps), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    if go_backwards:
        x, mask = x[:, ::-1], mask[:, ::-1]
    states = [np.asarray(s, dtype=np.float64) for s in initial_states]
    previous = None
    outputs = []
    for t in range(steps):
        out, new_states = step(x[:, t], states)
        if previous is None:
            previous = np.zeros_like(out)
        valid = mask[:, t][:, None]
        out = np.where(valid, out, previous)
        states = [np.where(valid, new, old) for new, old in zip(new_states, states)]
        previous = out
        outputs.append(np.where(valid, out, 0.0) if zero_output_for_mask else out)
    return np.stack(outputs, axis=1), states
