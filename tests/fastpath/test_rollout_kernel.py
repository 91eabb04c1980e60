"""The compiled forecast path against the stepper (torch's fused cell operators).

Each case forecasts with `UNROLLED_FAST_PATH` on and off and compares the predictions
to 1e-5; `model.last_forecast_path` says which path ran and why.
"""

from __future__ import annotations

import numpy as np
import pytest

import unrolled
from unrolled.layers import (
    GRU,
    LSTM,
    Activation,
    Dense,
    Dropout,
    Embedding,
    Input,
    Masking,
    SimpleRNN,
    TimeDistributed,
)
from unrolled.models import Sequential

pytest.importorskip("numba")

FEATURES = 3


def _both(monkeypatch, model, history, steps, **options):
    monkeypatch.setenv("UNROLLED_FAST_PATH", "0")
    reference = unrolled.forecast(model, history, steps, **options)
    assert model.last_forecast_path.name == "stepper"
    monkeypatch.setenv("UNROLLED_FAST_PATH", "1")
    fast = unrolled.forecast(model, history, steps, **options)
    return fast, reference


def _history(series: int | None = None, steps: int = 20, features: int = FEATURES) -> np.ndarray:
    shape = (steps, features) if series is None else (series, steps, features)
    return np.random.default_rng(0).normal(size=shape).astype(np.float32)


MODELS = {
    "lstm": lambda: [LSTM(8, return_sequences=True), Dense(FEATURES)],
    "gru": lambda: [GRU(8, return_sequences=True), Dense(FEATURES)],
    "rnn_tanh": lambda: [SimpleRNN(8, return_sequences=True), Dense(FEATURES)],
    "rnn_relu": lambda: [SimpleRNN(8, activation="relu", return_sequences=True), Dense(FEATURES)],
    "stacked": lambda: [
        LSTM(8, return_sequences=True),
        Dropout(0.3),
        GRU(6, return_sequences=True),
        TimeDistributed(Dense(5, activation="tanh")),
        Dense(FEATURES),
        Activation("sigmoid"),
    ],
    "gru_no_bias": lambda: [
        GRU(8, use_bias=False, return_sequences=True),
        Dense(FEATURES, activation="relu"),
    ],
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_forecast_matches_the_stepper(monkeypatch, name):
    unrolled.set_random_seed(2)
    model = Sequential([Input((None, FEATURES)), *MODELS[name]()])
    fast, reference = _both(monkeypatch, model, _history(series=2), 30)
    assert model.last_forecast_path.name == "compiled-rollout"
    np.testing.assert_allclose(fast, reference, atol=1e-5)


def test_stateful_step_model_with_covariates(monkeypatch):
    unrolled.set_random_seed(4)
    model = Sequential([Input(batch_shape=(1, 1, FEATURES)), LSTM(6, stateful=True), Dense(1)])
    future = np.random.default_rng(1).normal(size=(15, FEATURES - 1)).astype(np.float32)
    fast, reference = _both(monkeypatch, model, _history(), 15, targets=[1], future=future)
    assert model.last_forecast_path.name == "compiled-rollout"
    np.testing.assert_allclose(fast, reference, atol=1e-5)


def test_targets_in_another_order(monkeypatch):
    unrolled.set_random_seed(5)
    model = Sequential([Input((None, 2)), GRU(4, return_sequences=True), Dense(2)])
    fast, reference = _both(monkeypatch, model, _history(features=2), 12, targets=[1, 0])
    np.testing.assert_allclose(fast, reference, atol=1e-5)


@pytest.mark.parametrize(
    "layers, reason",
    [
        (
            [Dense(4, activation="softplus"), LSTM(4, return_sequences=True), Dense(FEATURES)],
            "softplus",
        ),
        (
            [LSTM(4, activation="relu", return_sequences=True), Dense(FEATURES)],
            "activation='relu' (only tanh); the fused operator computes tanh",
        ),
        (
            [GRU(4, reset_after=False, return_sequences=True), Dense(FEATURES)],
            "reset_after=False (only True)",
        ),
        ([Masking(99.0), LSTM(4, return_sequences=True), Dense(FEATURES)], "Masking"),
    ],
)
def test_unsupported_chains_decline_with_a_reason(monkeypatch, layers, reason):
    unrolled.set_random_seed(6)
    model = Sequential([Input((None, FEATURES)), *layers])
    fast, reference = _both(monkeypatch, model, _history(), 8)
    assert model.last_forecast_path.name == "stepper"
    assert reason in model.last_forecast_path.reason
    np.testing.assert_allclose(fast, reference, atol=1e-6)


def test_embedding_models_decline():
    from unrolled.compiled.rollout_plan import plan_rollout

    runner, reason = plan_rollout([Embedding(10, 4), LSTM(4), Dense(1)])
    assert runner is None and "Embedding" in reason
