"""The compiled fit path's head (issue 20): Dense activations, losses and metrics.

Each case trains two identical models, one on the kernel (`fast_path="auto"`) and one on
the reference path (`fast_path=False`), and compares every history entry (the loss and
each metric, as Keras computes them), the weights and the optimizer's slots, on both
kernels (the `kernel` fixture). The gradients of each loss through each activation are
compared with autograd's through one SGD step of learning rate 1, and the history of one
classifier with real Keras's, from the same weights.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import unrolled
from unrolled.compiled import fit_plan
from unrolled.layers import GRU, LSTM, Dense, Input, Masking, SimpleRNN
from unrolled.training import losses, metrics

pytest.importorskip("numba")

FEATURES, STEPS, UNITS, SAMPLES = 3, 5, 4, 13


def targets(kind: str, outputs: int, seed: int = 0, samples: int = SAMPLES) -> np.ndarray:
    """Targets of `kind`: `values` (normal), `binary` (0/1), `onehot`, or class `ids`."""
    rng = np.random.default_rng(seed + 100)
    if kind == "values":
        return rng.normal(size=(samples, outputs)).astype(np.float32)
    if kind == "binary":
        return (rng.random((samples, outputs)) < 0.5).astype(np.float32)
    ids = rng.integers(0, outputs, samples)
    return np.eye(outputs, dtype=np.float32)[ids] if kind == "onehot" else ids


# (Dense activation, loss factory, targets, outputs, metrics factory): fresh objects per
# model, since a metric object keeps its totals.
HEADS = {
    "mse-linear": ("linear", lambda: "mse", "values", 2, lambda: ["mae", "mse", "rmse"]),
    "mae-linear": ("linear", lambda: "mae", "values", 2, lambda: ["mse"]),
    "huber-linear": ("linear", lambda: losses.Huber(delta=0.5), "values", 3, lambda: ["mae"]),
    "bce-sigmoid": ("sigmoid", lambda: "binary_crossentropy", "binary", 1, lambda: ["accuracy"]),
    "bce-logits": (
        "linear",
        lambda: losses.BinaryCrossentropy(from_logits=True),
        "binary",
        2,
        lambda: ["binary_accuracy"],
    ),
    "cce-softmax": (
        "softmax",
        lambda: "categorical_crossentropy",
        "onehot",
        4,
        lambda: ["accuracy", "mae"],
    ),
    "cce-logits": (
        "linear",
        lambda: losses.CategoricalCrossentropy(from_logits=True),
        "onehot",
        3,
        lambda: ["categorical_accuracy"],
    ),
    "sparse-softmax": (
        "softmax",
        lambda: "sparse_categorical_crossentropy",
        "ids",
        4,
        lambda: ["accuracy"],
    ),
    "sparse-logits": (
        "linear",
        lambda: losses.SparseCategoricalCrossentropy(from_logits=True),
        "ids",
        5,
        lambda: [metrics.SparseCategoricalAccuracy()],
    ),
    "mse-sigmoid-threshold": (
        "sigmoid",
        lambda: "mse",
        "binary",
        2,
        lambda: [metrics.BinaryAccuracy(threshold=0.3)],
    ),
    "bce-softmax": ("softmax", lambda: "binary_crossentropy", "binary", 3, lambda: ["mse"]),
}
CELLS = {"lstm": LSTM, "gru": GRU, "rnn": SimpleRNN}


def build(cell: str, activation: str, outputs: int, masked: bool = False) -> unrolled.Sequential:
    unrolled.set_random_seed(5)
    return unrolled.Sequential(
        [Input((STEPS, FEATURES))]
        + [Masking(0.0)] * masked
        + [CELLS[cell](UNITS), Dense(outputs, activation=activation)]
    )


def fit_both(head: str, cell: str, masked: bool = False, epochs: int = 2, optimizer=None):
    """`[(model, history), ...]` trained on the kernel, then on the reference path."""
    activation, loss, kind, outputs, metric_list = HEADS[head]
    rng = np.random.default_rng(1)
    x = rng.normal(size=(SAMPLES, STEPS, FEATURES)).astype(np.float32)
    if masked:
        x[0, :2] = 0.0  # pre-padding
        x[1, -1] = 0.0  # post-padding
        x[2] = 0.0  # no valid step
    y = targets(kind, outputs)
    runs = []
    for fast in ("auto", False):
        model = build(cell, activation, outputs, masked)
        model.compile(
            optimizer or unrolled.optimizers.Adam(0.01),
            loss(),
            metrics=metric_list(),
            fast_path=fast,
        )
        history = model.fit(x, y, batch_size=4, epochs=epochs, verbose=0, seed=9)
        runs.append((model, history))
    return runs


def assert_same(runs) -> None:
    (fast, fast_history), (ref, ref_history) = runs
    assert fast.last_fit_path.name == "compiled-epoch", fast.last_fit_path.reason
    assert ("batched over 2 threads" in fast.last_fit_path.reason) == (
        fit_plan.MAX_WORK_PER_BATCH == 0
    )
    assert ref.last_fit_path.name == "reference"
    assert list(fast_history.history) == list(ref_history.history)
    for key, values in ref_history.history.items():
        np.testing.assert_allclose(
            fast_history.history[key], values, rtol=1e-5, atol=1e-6, err_msg=key
        )
    for ours, theirs in zip(fast.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)
    fast_opt, ref_opt = fast._trainer.optimizer, ref._trainer.optimizer
    assert fast_opt.iterations == ref_opt.iterations
    for p_fast, p_ref in zip(fast.parameters(), ref.parameters()):
        for name, slot in ref_opt.state[p_ref].items():
            np.testing.assert_allclose(
                fast_opt.state[p_fast][name], slot, rtol=1e-4, atol=1e-6, err_msg=name
            )


@pytest.mark.parametrize("head", sorted(HEADS))
def test_head_matches_the_reference_path(head, kernel):
    cell = sorted(CELLS)[sorted(HEADS).index(head) % len(CELLS)]  # each cell in turn
    assert_same(fit_both(head, cell))


@pytest.mark.parametrize("head", ["bce-sigmoid", "sparse-softmax", "huber-linear"])
def test_masked_head_matches_the_reference_path(head, kernel):
    assert_same(fit_both(head, "lstm", masked=True))


def test_path_reason_names_the_head():
    (model, _), _ = fit_both("sparse-softmax", "gru", epochs=1)
    assert model.last_fit_path.reason == (
        "numba kernel: whole epochs of GRU -> Dense(softmax), sparse_categorical_crossentropy, "
        "metrics accuracy, Adam"
    )
    (model, _), _ = fit_both("bce-logits", "lstm", epochs=1)
    assert "binary_crossentropy (from logits), metrics binary_accuracy" in (
        model.last_fit_path.reason
    )


@pytest.mark.parametrize("head", sorted(HEADS))
def test_head_gradients_match_autograd(head):
    """One SGD step of learning rate 1 on one batch moves each weight by its gradient."""
    activation, loss, kind, outputs, _ = HEADS[head]
    rng = np.random.default_rng(2)
    x = rng.normal(size=(6, STEPS, FEATURES)).astype(np.float32)
    y = targets(kind, outputs, samples=6)
    model = build("lstm", activation, outputs)
    before = [p.detach().clone() for p in model.parameters()]
    objective = losses.get(loss())
    value = objective(torch.from_numpy(y), model(torch.from_numpy(x)))
    grads = torch.autograd.grad(value, list(model.parameters()))
    model.compile(unrolled.optimizers.SGD(1.0), loss())
    history = model.fit(x, y, batch_size=6, epochs=1, verbose=0)
    assert model.last_fit_path.name == "compiled-epoch", model.last_fit_path.reason
    assert history.history["loss"][0] == pytest.approx(float(value), rel=1e-5)
    for b, p, g in zip(before, model.parameters(), grads):
        np.testing.assert_allclose((b - p.detach()).numpy(), g.numpy(), rtol=1e-4, atol=1e-6)


def test_probabilities_past_the_clip_pass_no_gradient():
    """A sigmoid saturated beyond 1 - 1e-7 is clipped by the loss: no gradient flows back
    through it (as autograd's clamp), and the loss is the clipped one."""
    model = build("lstm", "sigmoid", 1)
    with torch.no_grad():
        model.layers[-1].bias.fill_(30.0)  # sigmoid(30) rounds to 1 in float32
    x = np.ones((4, STEPS, FEATURES), np.float32)
    y = np.array([[0.0], [1.0], [0.0], [1.0]], np.float32)
    before = [p.detach().clone() for p in model.parameters()]
    model.compile(unrolled.optimizers.SGD(1.0), "binary_crossentropy")
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    assert model.last_fit_path.name == "compiled-epoch"
    # closed form: q = 1 - 1e-7 in float32; half the rows pay -log(1 - q), half -log(q)
    q = np.float32(1.0 - 1e-7)
    expected = 0.5 * -np.log(np.float32(1.0) - q) + 0.5 * -np.log(q)
    assert history.history["loss"][0] == pytest.approx(expected, rel=1e-5)
    for b, p in zip(before, model.parameters()):
        np.testing.assert_array_equal(b.numpy(), p.detach().numpy())


def _decline(head: str, y=None, loss=None, metric_list=None) -> str:
    activation, default_loss, kind, outputs, default_metrics = HEADS[head]
    x = np.random.default_rng(0).normal(size=(8, STEPS, FEATURES)).astype(np.float32)
    model = build("lstm", activation, outputs)
    model.compile("adam", loss or default_loss(), metrics=metric_list or default_metrics())
    model.fit(x, targets(kind, outputs, samples=8) if y is None else y, verbose=0, epochs=1)
    assert model.last_fit_path.name == "reference"
    return model.last_fit_path.reason


def test_declines_name_the_loss_the_metric_or_the_targets():
    assert "loss log_cosh: the kernel implements MSE, MAE, Huber" in _decline(
        "mse-linear", loss="log_cosh"
    )
    assert "loss categorical_crossentropy: label_smoothing=0.2 (only 0.0)" in _decline(
        "cce-softmax", loss=losses.CategoricalCrossentropy(label_smoothing=0.2)
    )
    assert "metric msle (MeanSquaredLogarithmicError)" in _decline(
        "mse-linear", metric_list=["msle"]
    )
    reason = _decline("sparse-softmax", metric_list=["categorical_accuracy"])
    assert (
        "metric categorical_accuracy: the kernel computes it on values only, and y holds class ids"
        in (reason)
    )
    # (the reference path truncates 1.5 to class 1, as Keras's cast does)
    assert "y holds values that are not class ids 0..3" in _decline(
        "sparse-softmax", y=np.full(8, 1.5, np.float32)
    )


def test_classifier_history_matches_real_keras():
    """`LSTM -> Dense(1, sigmoid)`, binary cross-entropy and accuracy, on the kernel: the
    same losses and accuracies per epoch, and weights, as Keras 3 from the same weights."""
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(4)
    x = rng.normal(size=(24, STEPS, FEATURES)).astype(np.float32)
    y = (x[:, :, 0].mean(axis=1, keepdims=True) > 0).astype(np.float32)
    ours = build("lstm", "sigmoid", 1)
    theirs = keras.Sequential(
        [keras.Input((STEPS, FEATURES)), keras.layers.LSTM(UNITS), keras.layers.Dense(1, "sigmoid")]
    )
    theirs.set_weights(ours.get_weights())
    ours.compile(unrolled.optimizers.SGD(0.5), "binary_crossentropy", metrics=["accuracy"])
    theirs.compile(keras.optimizers.SGD(0.5), "binary_crossentropy", metrics=["accuracy"])
    fit = {"batch_size": 8, "epochs": 3, "verbose": 0, "shuffle": False}
    our_history = ours.fit(x, y, **fit).history
    assert ours.last_fit_path.name == "compiled-epoch", ours.last_fit_path.reason
    their_history = theirs.fit(x, y, **fit).history
    for key in ("loss", "accuracy"):
        np.testing.assert_allclose(our_history[key], their_history[key], rtol=1e-5, atol=1e-6)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, np.asarray(b), atol=1e-5)


def test_validation_and_evaluate_after_a_compiled_fit_match_the_reference():
    """The metrics the kernel filled are the trainer's own: validation (run by the reference
    evaluation after each compiled epoch) and a later `evaluate` read the same values."""
    rng = np.random.default_rng(6)
    x = rng.normal(size=(20, STEPS, FEATURES)).astype(np.float32)
    y = targets("ids", 3, samples=20)
    results = []
    for fast in ("auto", False):
        model = build("gru", "softmax", 3)
        model.compile(
            "adam", "sparse_categorical_crossentropy", metrics=["accuracy"], fast_path=fast
        )
        history = model.fit(
            x[:14], y[:14], batch_size=4, epochs=2, verbose=0, validation_data=(x[14:], y[14:])
        )
        results.append((model.last_fit_path.name, history.history, model.evaluate(x, y, verbose=0)))
    (fast_path, fast_history, fast_eval), (ref_path, ref_history, ref_eval) = results
    assert (fast_path, ref_path) == ("compiled-epoch", "reference")
    assert sorted(fast_history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    for key, values in ref_history.items():
        np.testing.assert_allclose(fast_history[key], values, rtol=1e-5, atol=1e-6, err_msg=key)
    np.testing.assert_allclose(fast_eval, ref_eval, rtol=1e-5, atol=1e-6)
