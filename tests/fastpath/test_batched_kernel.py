"""The batched kernels' pieces: `exp` against NumPy's, and the stack kernel's epochs of one
level split into 1 to 4 groups (more groups than rows in a short last batch included, in a
NaN-filled workspace) against the row-by-row kernel, which `test_fit_kernel.py` and
`test_heads.py` check against eager autograd: weights, losses, slots, states and each
sample's metrics."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from unrolled.compiled import codes

pytest.importorskip("numba")
blas = pytest.importorskip("unrolled.compiled.blas")
if blas.missing() is not None:
    pytest.skip(blas.missing(), allow_module_level=True)

from unrolled.compiled import stack_layout as lay  # noqa: E402
from unrolled.compiled.batched_kernel import _exp  # noqa: E402
from unrolled.compiled.fit_kernel import fit_epoch  # noqa: E402
from unrolled.compiled.stack_kernel import fit_epoch_stack  # noqa: E402

STEPS, FEATURES, UNITS, OUTPUTS = 7, 3, 5, 2
# (loss, Dense activation) pairs, and every metric the head computes
HEADS = [
    (codes.LOSS_MSE, codes.ACT_LINEAR),
    (codes.LOSS_BCE, codes.ACT_SIGMOID),
    (codes.LOSS_CCE, codes.ACT_SOFTMAX),
    (codes.LOSS_HUBER, codes.ACT_LINEAR),
]
# learning rate, beta_1 (RMSprop: rho), beta_2, epsilon, momentum; no decay or clipping
HYPER = np.zeros(codes.HYPER_SIZE, np.float32)
HYPER[:5] = 0.01, 0.9, 0.999, 1e-7, 0.9
METRICS = np.array(
    [
        codes.METRIC_MSE,
        codes.METRIC_MAE,
        codes.METRIC_BINARY_ACCURACY,
        codes.METRIC_CATEGORICAL_ACCURACY,
    ],
    np.int64,
)


def test_exp_matches_numpy_within_two_ulp():
    x = np.linspace(-87, 88, 100_001, dtype=np.float32)
    ours = x.copy()
    _exp(ours, np.empty(x.shape, np.int32))
    exact = np.exp(x.astype(np.float64))
    np.testing.assert_allclose(ours, exact, rtol=2.5e-7)


def _problem(rng, cell, samples, bias, dense_bias):
    gu = codes.GATES[cell] * UNITS
    offsets = [0, FEATURES * gu, -1, 0, -1]
    size = FEATURES * gu + UNITS * gu
    if bias:
        offsets[codes.OFFSET_BIAS] = size
        size += (2 if cell == codes.CELL_GRU else 1) * gu  # GRU: input and recurrent rows
    offsets[codes.OFFSET_DENSE] = size
    size += UNITS * OUTPUTS
    if dense_bias:
        offsets[codes.OFFSET_DENSE_BIAS] = size
        size += OUTPUTS
    theta = (rng.standard_normal(size) * 0.3).astype(np.float32)
    x = rng.standard_normal((samples, STEPS, FEATURES)).astype(np.float32)
    y = rng.standard_normal((samples, OUTPUTS)).astype(np.float32)
    return theta, np.array(offsets, np.int64), x, y


def _batched(groups):
    """The stack kernel on one level, with `fit_epoch`'s arguments."""

    def run(cell, units, x, y, valid, order, batch_size, stateful, h, c, theta, offsets, *rest):
        samples, steps, features = x.shape
        levels = np.zeros((1, lay.COLUMNS), np.int64)
        levels[0, [lay.LV_CELL, lay.LV_UNITS, lay.LV_FEATURES]] = cell, units, features
        levels[0, [lay.LV_DIRECTIONS, lay.LV_OUT, lay.LV_STEPS]] = 1, units, steps
        levels[0, [lay.LV_SOURCE, lay.LV_INIT]] = 0, -1
        levels[0, [lay.LV_KERNEL, lay.LV_RECURRENT, lay.LV_BIAS]] = offsets[:3]
        rows = -(-min(batch_size, samples) // groups)
        spots, shared, floats = lay.workspace_layout(levels, rows, embedded=False)
        # NaN-filled: a read of a workspace value the kernel did not write shows up
        work = np.full((groups, floats), np.nan, np.float32)
        bits = np.zeros((groups, lay.exp_scratch_ints(levels, rows)), np.int32)
        m, v, opt, hyper, bounds, first_step, losses, head, *scoring = rest
        fit_epoch_stack(
            levels, x, np.zeros((samples, 0, 0), np.float32), np.zeros((samples, 0), np.int64),
            np.array([-1, 0, 0]), y, False, valid, np.zeros((samples, 0), np.uint8), order,
            batch_size, stateful, False, h[None], c[None], theta, offsets[3:], m, v, opt,
            hyper, bounds, first_step, losses, head, *scoring, work, spots, shared, bits,
        )  # fmt: skip

    return run


@pytest.mark.parametrize(
    "cell, masked, stateful, optimizer",
    list(itertools.product(range(4), (False, True), (False, True), range(4))),
)
def test_epochs_match_the_row_kernel(cell, masked, stateful, optimizer):
    rng = np.random.default_rng(cell * 100 + optimizer)
    samples, batch = (15, 5) if stateful else (13, 5)  # stateless: a short last batch of 3
    theta, offsets, x, y = _problem(rng, cell, samples, optimizer % 2 == 0, optimizer < 2)
    valid = np.ones((samples, STEPS), np.uint8)
    if masked:
        valid = (rng.random((samples, STEPS)) > 0.3).astype(np.uint8)
        valid[0] = 0  # a row with no valid step
    order = np.arange(samples) if stateful else rng.permutation(samples)
    sample_weights = rng.uniform(0.2, 2.0, samples).astype(np.float32)
    loss, activation = HEADS[(cell + optimizer) % len(HEADS)]  # each head in turn
    head = np.array([loss, activation, 0, OUTPUTS], np.int64)
    results = []
    for kernel in (fit_epoch, _batched(1), _batched(2), _batched(3), _batched(4)):
        weights, m, v = theta.copy(), np.zeros_like(theta), np.zeros_like(theta)
        h, c = np.full((batch, UNITS), 0.1, np.float32), np.full((batch, UNITS), -0.1, np.float32)
        losses = np.zeros(-(-samples // batch), np.float32)
        values = np.zeros((samples, len(METRICS)), np.float32)
        for epoch in range(3):
            kernel(
                cell, UNITS, x, y, valid, order.astype(np.int64), batch, stateful, h, c,
                weights, offsets, m, v, optimizer, HYPER, np.array([0, len(theta)]),
                1 + epoch * len(losses), losses, head, np.float32(0.5), METRICS,
                np.full(len(METRICS), 0.5, np.float32), values, sample_weights,
            )  # fmt: skip
        states = (h, c) if cell == codes.CELL_LSTM else (h,)
        results.append((weights, losses.copy(), m, v, values, *states))
    for other in results[1:]:
        for ours, reference in zip(other, results[0]):
            np.testing.assert_allclose(ours, reference, atol=1e-5, rtol=1e-5)


def test_a_batched_fit_leaves_torchs_thread_count_as_the_user_set_it():
    """numba's OpenMP threads reset the process's OpenMP count, which is torch's too: a fit
    left torch at 2 threads where the user had set 1 (every later op ran on 2). The kernel
    runs on a numba team of its own size; numba's setting is put back too."""
    import numba
    import torch

    import unrolled
    from unrolled import layers

    torch.set_num_threads(1)
    numba_threads = numba.get_num_threads()
    model = unrolled.models.Sequential([layers.Input((20, 8)), layers.LSTM(64), layers.Dense(1)])
    model.compile("adam", "mse")
    rng = np.random.default_rng(0)
    x = rng.random((512, 20, 8), np.float32)
    model.fit(x, x[:, -1, :1], batch_size=256, epochs=1, verbose=0)
    assert "batched" in model.last_fit_path.reason  # the numba-threaded kernel ran
    assert torch.get_num_threads() == 1
    assert numba.get_num_threads() == numba_threads
