"""The compiled path's optimizer options against the Keras update rules (`update_rules.py`).

Decoupled weight decay (AdamW), Adagrad, and `clipnorm` / `global_clipnorm` / `clipvalue`:
first the kernels' update itself (`fit_kernel._apply_update`) against the rule's `step()` on
the same gradients, over random configurations; then whole fits, on both epoch kernels,
against the reference path (`fast_path=False`): losses, weights, optimizer slots and step
count to float32 rounding. Clipping cases also check that the clipping changed the result.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import unrolled
from unrolled.compiled.layout import flatten, unflatten
from unrolled.compiled.update_plan import UpdatePlan
from unrolled.layers import LSTM, Dense, Input
from unrolled.optimizers import SGD, Adagrad, Adam, AdamW, Nadam, RMSprop
from unrolled.training import update_rules

pytest.importorskip("numba")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

STEPS, FEATURES, OUTPUTS = 6, 3, 2
CLIPPING = ("clipnorm", "global_clipnorm", "clipvalue")

# ---- the update alone: `_apply_update` against the rule's step ------------------------------

# Each rule the kernel runs, with its own settings (learning rates where the steps move).
RULES = {
    "adam": (update_rules.AdamRule, {"lr": 0.01, "beta_1": 0.8}),
    "sgd": (update_rules.SGDRule, {"lr": 0.05}),
    "momentum": (update_rules.SGDRule, {"lr": 0.05, "momentum": 0.9}),
    "nesterov": (update_rules.SGDRule, {"lr": 0.05, "momentum": 0.5, "nesterov": True}),
    "rmsprop": (update_rules.RMSpropRule, {"lr": 0.01, "rho": 0.8}),
    "rmsprop_momentum": (update_rules.RMSpropRule, {"lr": 0.01, "momentum": 0.5}),
    "adagrad": (update_rules.AdagradRule, {"lr": 0.05}),
    "adagrad_from_half": (
        update_rules.AdagradRule,
        {"lr": 0.05, "initial_accumulator_value": 0.5, "epsilon": 1e-3},
    ),
}
SHAPES = [(3, 8), (2, 8), (8,), (2, 2), (2,)]  # per-tensor clipping sees each on its own


def _rule_pair(rule: str, options: dict) -> tuple[tuple[list, object], tuple[list, object]]:
    """Two copies of the same weights, each `(params, optimizer)` with its own `rule`."""
    generator = torch.Generator().manual_seed(0)
    weights = [torch.randn(shape, generator=generator) for shape in SHAPES]
    rule_class, rule_settings = RULES[rule]
    pair = []
    for _ in range(2):
        params = [w.clone() for w in weights]
        pair.append((params, rule_class(params, **rule_settings, **options)))
    return pair[0], pair[1]


def _kernel_steps(optimizer, params: list, grads: list[list[torch.Tensor]]) -> None:
    """`len(grads)` updates of `params` by the kernel's update, as `fit_runner` runs them."""
    from unrolled.compiled.fit_kernel import _apply_update

    plan = UpdatePlan(optimizer, params)
    theta, (m, v) = flatten(params), plan.slots()
    first = optimizer.iterations + 1
    for step, grad in enumerate(grads):
        _apply_update(
            plan.code, theta, flatten(grad), m, v, plan.hyper(), plan.bounds, first + step
        )
    with torch.no_grad():
        unflatten(theta, params)
    plan.write_back(m, v, len(grads))


def _reference_steps(optimizer, params: list, grads: list[list[torch.Tensor]]) -> None:
    for grad in grads:
        for p, g in zip(params, grad):
            p.grad = g.clone()
        optimizer.step()


def _assert_same_state(ours, theirs, our_params, their_params) -> None:
    assert ours.iterations == theirs.iterations
    for p, q in zip(our_params, their_params):
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-5, atol=1e-6)
        assert set(ours.state[p]) == set(theirs.state[q])
        for name, slot in theirs.state[q].items():
            np.testing.assert_allclose(
                ours.state[p][name].numpy(), slot.numpy(), rtol=1e-5, atol=1e-7, err_msg=name
            )


@settings(max_examples=60, derandomize=True, deadline=None, database=None)
@given(
    rule=st.sampled_from(sorted(RULES)),
    weight_decay=st.sampled_from([0.0, 0.004, 0.5]),
    clipping=st.sampled_from([None, *CLIPPING]),
    limit=st.sampled_from([0.01, 0.3, 5.0]),
    scale=st.sampled_from([0.1, 1.0, 10.0]),
    seed=st.integers(0, 2**16),
)
def test_kernel_update_matches_the_rule(rule, weight_decay, clipping, limit, scale, seed):
    options = {"weight_decay": weight_decay}
    if clipping is not None:
        options[clipping] = limit
    (ours, our_opt), (theirs, their_opt) = _rule_pair(rule, options)
    generator = torch.Generator().manual_seed(seed)
    grads = [[scale * torch.randn(s, generator=generator) for s in SHAPES] for _ in range(3)]
    _reference_steps(their_opt, theirs, grads)
    _kernel_steps(our_opt, ours, grads)
    _assert_same_state(our_opt, their_opt, ours, theirs)


@pytest.mark.parametrize("rule", ["adam", "sgd", "adagrad"])
@pytest.mark.parametrize("bad", [np.inf, np.nan], ids=["inf", "nan"])
def test_a_global_norm_not_finite_makes_every_weight_nan_as_keras(rule, bad):
    (ours, our_opt), (theirs, their_opt) = _rule_pair(rule, {"global_clipnorm": 1.0})
    grads = [[torch.ones(s) for s in SHAPES]]
    grads[0][0][0, 0] = float(bad)  # one element of one tensor
    _reference_steps(their_opt, theirs, grads)
    _kernel_steps(our_opt, ours, grads)
    for p, q in zip(ours, theirs):
        assert torch.isnan(q).all()
        assert torch.isnan(p).all()


def test_a_fresh_adagrad_accumulator_starts_at_its_initial_value():
    params = [torch.zeros(2, 3), torch.zeros(4)]
    rule = update_rules.AdagradRule(params, initial_accumulator_value=0.25)
    plan = UpdatePlan(rule, params)
    _, accumulator = plan.slots()
    np.testing.assert_array_equal(accumulator, np.full(10, 0.25, np.float32))


# ---- whole fits: the compiled path against the reference path ------------------------------


def _data(samples: int, steps: int, features: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(samples, steps, features)).astype(np.float32)
    y = rng.normal(size=(samples, OUTPUTS)).astype(np.float32)
    return x, y


def _fit(optimizer, fast, units=5, steps=STEPS, features=FEATURES, samples=12, batch=4):
    """A model of fixed weights trained three epochs; `(model, history)`."""
    unrolled.set_random_seed(2)
    model = unrolled.Sequential([Input((steps, features)), LSTM(units), Dense(OUTPUTS)])
    model.compile(optimizer=optimizer, loss="mse", fast_path=fast)
    x, y = _data(samples, steps, features)
    history = model.fit(x, y, epochs=3, batch_size=batch, seed=5, verbose=0)
    return model, history


def _assert_fits_match(fast, reference) -> None:
    (fast_model, fast_history), (ref_model, ref_history) = fast, reference
    assert ref_model.last_fit_path.name == "reference"
    np.testing.assert_allclose(
        fast_history.history["loss"], ref_history.history["loss"], rtol=1e-5, atol=1e-6
    )
    for ours, theirs in zip(fast_model.get_weights(), ref_model.get_weights()):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)
    ours, theirs = fast_model._trainer.optimizer, ref_model._trainer.optimizer
    _assert_same_state(ours, theirs, list(fast_model.parameters()), list(ref_model.parameters()))


FITS = {
    "adamw": lambda **clip: AdamW(0.01, weight_decay=0.2, **clip),
    "sgd_nesterov_decay": lambda **clip: SGD(
        0.05, momentum=0.9, nesterov=True, weight_decay=0.3, **clip
    ),
    "sgd_momentum_decay": lambda **clip: SGD(0.05, momentum=0.5, weight_decay=0.3, **clip),
    "rmsprop_decay": lambda **clip: RMSprop(0.01, weight_decay=0.2, **clip),
    "rmsprop_momentum_decay": lambda **clip: RMSprop(0.01, momentum=0.5, weight_decay=0.2, **clip),
    "adagrad": lambda **clip: Adagrad(0.05, **clip),
    "adagrad_decay": lambda **clip: Adagrad(
        0.05, initial_accumulator_value=0.5, epsilon=1e-3, weight_decay=0.2, **clip
    ),
}


@pytest.mark.parametrize("optimizer", sorted(FITS))
def test_fit_with_weight_decay_or_adagrad_matches_reference(optimizer, kernel):
    fast = _fit(FITS[optimizer](), "auto")
    name, reason = fast[0].last_fit_path
    assert name == "compiled-epoch", reason
    assert ("batched" in reason) == (kernel == "batched")
    _assert_fits_match(fast, _fit(FITS[optimizer](), False))


# Limits small enough that every batch's gradient is clipped.
CLIPPED_FITS = [
    ("adamw", {"clipnorm": 0.05}),
    ("sgd_momentum_decay", {"global_clipnorm": 0.05}),
    ("rmsprop_decay", {"clipvalue": 0.005}),
    ("adagrad", {"clipnorm": 0.02}),
    ("adagrad_decay", {"global_clipnorm": 0.02}),
]


@pytest.mark.parametrize("optimizer, clip", CLIPPED_FITS, ids=lambda v: str(v))
def test_clipped_fit_matches_reference(optimizer, clip, kernel):
    fast = _fit(FITS[optimizer](**clip), "auto")
    name, reason = fast[0].last_fit_path
    assert name == "compiled-epoch", reason
    assert ("batched" in reason) == (kernel == "batched")
    reference = _fit(FITS[optimizer](**clip), False)
    _assert_fits_match(fast, reference)
    unclipped, _ = _fit(FITS[optimizer](), False)
    moved = max(
        np.abs(a - b).max() for a, b in zip(unclipped.get_weights(), reference[0].get_weights())
    )
    assert moved > 1e-3, "the clipping limit did not clip"


def test_adamw_by_name_reaches_the_kernel():
    fast = _fit("adamw", "auto")
    assert fast[0].last_fit_path.name == "compiled-epoch", fast[0].last_fit_path
    assert fast[0]._trainer.optimizer.param_groups[0]["weight_decay"] == 0.004
    _assert_fits_match(fast, _fit("adamw", False))


def test_a_batch_too_big_for_the_row_kernel_trains_batched_with_clipping_and_decay():
    # LSTM(64), 8 steps, 8 features, batch 8: above fit_plan.MAX_WORK_PER_BATCH.
    sizes = {"units": 64, "steps": 8, "features": 8, "samples": 16, "batch": 8}
    fast = _fit(AdamW(0.01, weight_decay=0.2, global_clipnorm=0.05), "auto", **sizes)
    name, reason = fast[0].last_fit_path
    assert name == "compiled-epoch" and "batched" in reason, reason
    reference = _fit(AdamW(0.01, weight_decay=0.2, global_clipnorm=0.05), False, **sizes)
    _assert_fits_match(fast, reference)


# ---- what the planner still declines, by name ----------------------------------------------


@pytest.mark.parametrize(
    "optimizer, reason",
    [
        (lambda: Adam(amsgrad=True), "optimizer Adam: amsgrad=True (only False); amsgrad runs"),
        (lambda: AdamW(amsgrad=True, clipnorm=1.0), "optimizer Adam: amsgrad=True (only False)"),
        (
            lambda: RMSprop(centered=True, weight_decay=0.1),
            "optimizer RMSprop: centered=True (only False); centered RMSprop runs on the",
        ),
        (
            lambda: Adagrad(decay=0.1),
            "optimizer Adagrad: decay=0.1 (only 0.0); Keras 2's learning-rate decay runs",
        ),
        (
            lambda: Nadam(),
            "optimizer Nadam: the kernel implements Keras's Adam (AdamW), SGD, RMSprop (not "
            "centered) and Adagrad",
        ),
    ],
    ids=["amsgrad", "adamw_amsgrad", "centered", "decay", "nadam"],
)
def test_what_the_kernel_does_not_do_declines_naming_the_option(optimizer, reason):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Keras 2's `decay`
        model, _ = _fit(optimizer(), "auto", samples=4)
    name, why = model.last_fit_path
    assert name == "reference"
    assert reason in why
