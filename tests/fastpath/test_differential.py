"""Random configurations the planners accept, each compiled path against the reference one.

Fit: cell kind, sizes, batch, stateful or not, masking or not, biases, Adam, SGD (with
momentum, Nesterov) or RMSprop (with momentum or not), learning rate, epochs, which epoch kernel (row by row, or batched
over two threads where MKL's sgemm is found), and the head: Dense's activation, the loss
(MSE, MAE, Huber, binary/categorical/sparse categorical cross-entropy, from logits or not)
and the metrics; the history (loss and metrics), weights and states after training must
match the reference path (`fast_path=False`) to the kernels' tolerance. Rollout: stacks of recurrent layers with
Dense, TimeDistributed, Activation and Dropout stages, fed back with or without covariates,
against the stepper. The kernels' other optimizers (Adagrad, AdamW and weight decay,
clipnorm, clipvalue, global_clipnorm) are checked in `test_compiled_optimizers.py`, sample
and class weights in `test_compiled_sample_weights.py`.

A few derandomized examples by default (about 10 s once numba's cache is warm);
`UNROLLED_HYPOTHESIS_PROFILE=thorough` draws ten times as many, freshly random each run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pytest

import unrolled
from unrolled.compiled import blas, fit_plan
from unrolled.layers import (
    GRU,
    LSTM,
    Activation,
    Dense,
    Dropout,
    Input,
    Masking,
    SimpleRNN,
    TimeDistributed,
)
from unrolled.training import losses

pytest.importorskip("numba")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

THOROUGH = os.environ.get("UNROLLED_HYPOTHESIS_PROFILE") == "thorough"
EXAMPLES = 20  # per test by default; ten times as many when thorough
SETTINGS = settings(
    max_examples=10 * EXAMPLES if THOROUGH else EXAMPLES,
    derandomize=not THOROUGH,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
RECURRENT = {
    "lstm": lambda units, **kw: LSTM(units, **kw),
    "gru": lambda units, **kw: GRU(units, **kw),
    "rnn_tanh": lambda units, **kw: SimpleRNN(units, **kw),
    "rnn_relu": lambda units, **kw: SimpleRNN(units, activation="relu", **kw),
}
OPTIMIZERS = {
    "adam": lambda lr: unrolled.optimizers.Adam(lr),
    "sgd": lambda lr: unrolled.optimizers.SGD(lr),
    "momentum": lambda lr: unrolled.optimizers.SGD(lr, momentum=0.9),
    "nesterov": lambda lr: unrolled.optimizers.SGD(lr, momentum=0.5, nesterov=True),
    "rmsprop": lambda lr: unrolled.optimizers.RMSprop(lr, rho=0.8),
    "rmsprop_momentum": lambda lr: unrolled.optimizers.RMSprop(lr, momentum=0.5),
}


# Each loss: the targets it takes, and the metrics drawn with it (fitting those targets).
LOSSES = {
    "mse": ("values", lambda head: "mse"),
    "mae": ("values", lambda head: "mae"),
    "huber": ("values", lambda head: losses.Huber(delta=head.delta)),
    "bce": ("binary", lambda head: losses.BinaryCrossentropy(from_logits=head.from_logits)),
    "cce": ("onehot", lambda head: losses.CategoricalCrossentropy(from_logits=head.from_logits)),
    "sparse": (
        "ids",
        lambda head: losses.SparseCategoricalCrossentropy(from_logits=head.from_logits),
    ),
}
METRICS = {
    "values": ["mse", "mae", "rmse", "accuracy"],
    "binary": ["accuracy", "binary_accuracy", "mae"],
    "onehot": ["accuracy", "categorical_accuracy", "mse"],
    "ids": ["accuracy", "sparse_categorical_accuracy"],
}
PROBABILITIES = {"bce": "sigmoid", "cce": "softmax", "sparse": "softmax"}


@dataclass(frozen=True)
class Head:
    loss: str
    activation: str
    from_logits: bool
    delta: float
    metrics: tuple[str, ...]


@st.composite
def heads(draw: st.DrawFn) -> Head:
    loss = draw(st.sampled_from(sorted(LOSSES)))
    from_logits = loss in PROBABILITIES and draw(st.booleans())
    if loss in PROBABILITIES:  # probabilities from the activation Keras pairs with the loss
        activation = "linear" if from_logits else PROBABILITIES[loss]
    else:
        activation = draw(st.sampled_from(["linear", "sigmoid", "softmax"]))
    names = METRICS[LOSSES[loss][0]]
    chosen = draw(st.lists(st.sampled_from(names), max_size=2, unique=True))
    return Head(loss, activation, from_logits, draw(st.sampled_from([0.3, 1.0])), tuple(chosen))


@dataclass(frozen=True)
class FitCase:
    kind: str
    units: int
    features: int
    steps: int
    outputs: int
    batch: int
    samples: int
    stateful: bool
    masked: bool
    use_bias: bool
    dense_bias: bool
    optimizer: str
    learning_rate: float
    epochs: int
    batched: bool
    seed: int
    head: Head = Head("mse", "linear", False, 1.0, ())


@st.composite
def fit_cases(draw: st.DrawFn) -> FitCase:
    stateful = draw(st.booleans())
    batch = draw(st.integers(1, 5))
    samples = batch * draw(st.integers(1, 3)) if stateful else draw(st.integers(1, 12))
    optimizer = draw(st.sampled_from(sorted(OPTIMIZERS)))
    rates = (1e-3, 1e-2) if optimizer in ("adam", "rmsprop", "rmsprop_momentum") else (1e-2, 0.05)
    return FitCase(
        kind=draw(st.sampled_from(sorted(RECURRENT))),
        units=draw(st.integers(1, 6)),
        features=draw(st.integers(1, 4)),
        steps=draw(st.integers(1, 6)),
        outputs=draw(st.integers(1, 3)),
        batch=batch,
        samples=samples,
        stateful=stateful,
        masked=draw(st.booleans()),
        use_bias=draw(st.booleans()),
        dense_bias=draw(st.booleans()),
        optimizer=optimizer,
        learning_rate=draw(st.floats(*rates)),
        epochs=draw(st.integers(1, 2)),
        batched=blas.missing() is None and draw(st.booleans()),
        seed=draw(st.integers(0, 2**16)),
        head=draw(heads()),
    )


def _fit_data(case: FitCase) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(case.seed)
    x = rng.normal(size=(case.samples, case.steps, case.features)).astype(np.float32)
    y = _targets(rng, case)
    if case.masked:  # pre-, post-padding and holes
        masked = rng.random((case.samples, case.steps)) < 0.3
        # Some rows have no valid step at all, so small batches are sometimes wholly masked:
        # both paths then give the recurrent weights a zero gradient, as Keras does.
        masked[rng.random(case.samples) < 0.2] = True
        x[masked] = 0.0
    return x, y


def _outputs(case: FitCase) -> int:
    """The Dense units: at least two classes for the categorical losses."""
    return case.outputs + (LOSSES[case.head.loss][0] in ("onehot", "ids"))


def _targets(rng: np.random.Generator, case: FitCase) -> np.ndarray:
    kind, outputs = LOSSES[case.head.loss][0], _outputs(case)
    if kind == "values":
        return rng.normal(size=(case.samples, outputs)).astype(np.float32)
    if kind == "binary":
        return (rng.random((case.samples, outputs)) < 0.5).astype(np.float32)
    ids = rng.integers(0, outputs, case.samples)
    return np.eye(outputs, dtype=np.float32)[ids] if kind == "onehot" else ids


def _fit_model(case: FitCase) -> unrolled.Sequential:
    unrolled.set_random_seed(case.seed)
    shape = (case.batch if case.stateful else None, case.steps, case.features)
    recurrent = RECURRENT[case.kind](case.units, stateful=case.stateful, use_bias=case.use_bias)
    return unrolled.Sequential(
        [Input(batch_shape=shape)]
        + [Masking(0.0)] * case.masked
        + [
            recurrent,
            Dense(_outputs(case), activation=case.head.activation, use_bias=case.dense_bias),
        ]
    )


@SETTINGS
@given(case=fit_cases())
def test_compiled_fit_matches_the_reference_fit(case: FitCase):
    x, y = _fit_data(case)
    runs = []
    for fast in ("auto", False):
        model = _fit_model(case)
        model.compile(
            OPTIMIZERS[case.optimizer](case.learning_rate),
            LOSSES[case.head.loss][1](case.head),
            metrics=list(case.head.metrics),
            fast_path=fast,
        )
        with pytest.MonkeyPatch.context() as patch:
            if case.batched:  # the batched kernel on two threads, forced on these small sizes
                patch.setattr(fit_plan, "MAX_WORK_PER_BATCH", 0)
                patch.setattr(fit_plan, "_threads_for", lambda rows, units: 2)
            fit = {"shuffle": False} if case.stateful else {"seed": case.seed}
            history = model.fit(x, y, epochs=case.epochs, batch_size=case.batch, verbose=0, **fit)
        runs.append((model, history))
    (fast_model, fast_history), (ref_model, ref_history) = runs
    name, reason = fast_model.last_fit_path
    assert name == "compiled-epoch", reason
    assert ("batched over 2 threads" in reason) == case.batched
    assert ref_model.last_fit_path.name == "reference"
    assert_same_training(fast_model, fast_history, ref_model, ref_history)


def assert_same_training(fast_model, fast_history, ref_model, ref_history) -> None:  # type: ignore[no-untyped-def]
    """The compiled fit's history (loss, then each metric), weights and states against the
    reference fit's, to the kernels' tolerance."""
    assert list(fast_history.history) == list(ref_history.history)
    for key, values in ref_history.history.items():
        np.testing.assert_allclose(
            fast_history.history[key], values, rtol=1e-5, atol=1e-6, err_msg=key
        )
    # As test_fit_kernel.py's, and relative too, as for the losses: a relu cell under SGD can
    # grow weights past 10, where float32 rounding alone exceeds 1e-5.
    for ours, theirs in zip(fast_model.get_weights(), ref_model.get_weights()):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)
    for ours, theirs in zip(fast_model.get_states().values(), ref_model.get_states().values()):
        for a, b in zip(ours, theirs):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


@st.composite
def rollout_chains(draw: st.DrawFn) -> tuple[list, int, list[int] | None]:
    """`(layers, features, targets)`: recurrent layers, then pointwise stages, then the output."""
    features = draw(st.integers(1, 4))
    layers: list = []
    for _ in range(draw(st.integers(1, 2))):
        kind = draw(st.sampled_from(sorted(RECURRENT)))
        units = draw(st.integers(1, 6))
        layers.append(RECURRENT[kind](units, return_sequences=True, use_bias=draw(st.booleans())))
        if draw(st.booleans()):
            layers.append(Dropout(0.3))
    activation = st.sampled_from(["linear", "relu", "tanh", "sigmoid"])
    if draw(st.booleans()):
        dense = Dense(draw(st.integers(1, 5)), activation=draw(activation))
        layers.append(TimeDistributed(dense) if draw(st.booleans()) else dense)
    outputs = draw(st.integers(1, features))
    targets = draw(st.permutations(range(features)))[:outputs]
    layers.append(Dense(outputs, use_bias=draw(st.booleans())))
    if draw(st.booleans()):
        layers.append(Activation(draw(activation)))
    return layers, features, (None if targets == list(range(features)) else targets)


@SETTINGS
@given(
    chain=rollout_chains(),
    series=st.integers(1, 3),
    known=st.integers(1, 8),
    steps=st.integers(1, 10),
    seed=st.integers(0, 2**16),
)
def test_compiled_rollout_matches_the_stepper(chain, series, known, steps, seed):
    layers, features, targets = chain
    unrolled.set_random_seed(seed)
    model = unrolled.Sequential([Input((None, features)), *layers])
    rng = np.random.default_rng(seed)
    history = rng.normal(size=(series, known, features)).astype(np.float32)
    options = {}
    if targets is not None:
        options["targets"] = targets
        covariates = features - len(targets)
        if covariates:
            options["future"] = rng.normal(size=(series, steps, covariates)).astype(np.float32)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("UNROLLED_FAST_PATH", "0")
        reference = unrolled.forecast(model, history, steps, **options)
        assert model.last_forecast_path.name == "stepper"
        patch.setenv("UNROLLED_FAST_PATH", "1")
        fast = unrolled.forecast(model, history, steps, **options)
    assert model.last_forecast_path.name == "compiled-rollout", model.last_forecast_path
    np.testing.assert_allclose(fast, reference, rtol=1e-5, atol=1e-5)
