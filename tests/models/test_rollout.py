"""Forecasting, stepping and streaming, each against the model run the slow, obvious way."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import unrolled
from unrolled import forecast, topologies
from unrolled.datasets import airline_passengers
from unrolled.errors import ConfigError, ShapeError
from unrolled.layers import (
    GRU,
    LSTM,
    Bidirectional,
    Dense,
    Input,
    Masking,
    SimpleRNN,
    TimeDistributed,
)
from unrolled.models import Sequential, Stepper, Stream


def _stateful_step_model(features: int = 2, batch: int = 1) -> Sequential:
    # The seeds' recipe: a stateful many-to-many model fed one step per predict call.
    return Sequential(
        [
            Input((1, features), batch_size=batch),
            LSTM(8, stateful=True, return_sequences=True),
            TimeDistributed(Dense(features)),
        ]
    )


def test_forecast_of_a_stateful_model_equals_the_seeds_predict_loop() -> None:
    unrolled.set_random_seed(0)
    model = _stateful_step_model()
    history = np.random.default_rng(0).normal(size=(30, 2)).astype("float32")
    # Oracle: reset, warm up one predict call per known step, then feed predictions back.
    model.reset_state()
    for t in range(30):
        last = model.predict(history[None, t : t + 1], batch_size=1, verbose=0)[:, -1]
    expected = [last[0]]
    for _ in range(9):
        last = model.predict(last[:, None], batch_size=1, verbose=0)[:, -1]
        expected.append(last[0])
    model.reset_state()
    np.testing.assert_allclose(forecast(model, history, 10), np.array(expected), atol=1e-6)


def test_forecast_leaves_the_stateful_model_states_alone() -> None:
    model = _stateful_step_model()
    model.set_states({model.layers[0].name: [np.ones((1, 8)), np.ones((1, 8))]})
    forecast(model, np.zeros((5, 2), "float32"), 3)
    np.testing.assert_array_equal(model.get_states()[model.layers[0].name][0], np.ones((1, 8)))


@pytest.mark.parametrize("layer_class", [LSTM, GRU, SimpleRNN])
def test_forecast_of_a_sequence_model_equals_rerunning_it_on_the_growing_series(
    layer_class: type,
) -> None:
    unrolled.set_random_seed(1)
    model = Sequential(
        [
            Input((None, 3)),
            layer_class(6, return_sequences=True),
            LSTM(5, return_sequences=True),
            Dense(3),
        ]
    )
    series = np.random.default_rng(1).normal(size=(12, 3)).astype("float32")
    grown = series.copy()
    for _ in range(6):  # the oracle re-runs the whole model on history + predictions so far
        following = model(torch.as_tensor(grown[None])).detach().numpy()[0, -1]
        grown = np.concatenate([grown, following[None]])
    np.testing.assert_allclose(forecast(model, series, 6), grown[12:], atol=1e-6)


def test_forecast_of_a_window_model_equals_sliding_the_window_by_hand() -> None:
    unrolled.set_random_seed(2)
    model = topologies.many_to_one(5, 1, units=8)
    series = np.sin(np.arange(40) / 3).astype("float32")
    window = list(series[-5:])
    expected = []
    for _ in range(7):
        value = model.predict(np.array(window[-5:], "float32")[None, :, None], verbose=0)[0, 0]
        expected.append(value)
        window.append(value)
    np.testing.assert_allclose(forecast(model, series, 7), expected, atol=1e-6)


def test_forecast_of_a_multi_step_window_model_with_known_covariates() -> None:
    # Column 0 is predicted, 2 steps per call; column 1 is a known future input (a calendar).
    unrolled.set_random_seed(3)
    model = topologies.many_to_one(4, 2, outputs=2, units=8)
    rng = np.random.default_rng(3)
    series = rng.normal(size=(20, 2)).astype("float32")
    future = rng.normal(size=(5, 1)).astype("float32")
    window = series[-4:].copy()
    expected = []
    for start in range(0, 5, 2):
        pair = model(torch.as_tensor(window[None])).detach().numpy()[0]  # (2,) = 2 steps of col 0
        rows = np.stack([pair, np.pad(future[start : start + 2, 0], (0, 2))[:2]], axis=1)
        expected.extend(pair)
        window = np.concatenate([window, rows])[-4:]
    predicted = forecast(model, series, 5, targets=[0], future=future)
    np.testing.assert_allclose(predicted[:, 0], expected[:5], atol=1e-6)


def test_forecast_of_several_series_at_once_equals_one_at_a_time() -> None:
    unrolled.set_random_seed(4)
    model = Sequential([Input((None, 2)), GRU(6, return_sequences=True), Dense(2)])
    histories = np.random.default_rng(4).normal(size=(3, 15, 2)).astype("float32")
    together = forecast(model, histories, 4)
    assert together.shape == (3, 4, 2)
    for row in range(3):
        np.testing.assert_allclose(together[row], forecast(model, histories[row], 4), atol=1e-6)


def test_forecast_on_the_airline_data_beats_the_seasonal_naive_forecast() -> None:
    # The LSTM models the monthly log growth rate, windows of 24 months to the next 12.
    unrolled.set_random_seed(0)
    values = airline_passengers().values.astype("float64")
    train, test = values[:-24], values[-24:]
    growth = np.diff(np.log(train))
    scale = growth.std()
    x, y = unrolled.windows((growth / scale).astype("float32"), look_back=24, horizon=12)
    model = topologies.many_to_one(24, 1, outputs=12, units=32)
    model.compile(unrolled.optimizers.Adam(0.01), "mse")
    model.fit(x, y, epochs=100, batch_size=16, verbose=0)
    predicted_growth = forecast(model, growth / scale, 24) * scale
    predicted = np.exp(np.log(train[-1]) + np.cumsum(predicted_growth))
    seasonal_naive = np.tile(train[-12:], 2)
    rmse = lambda a: float(np.sqrt(np.mean((a - test) ** 2)))  # noqa: E731
    assert rmse(predicted) < rmse(seasonal_naive)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda m: forecast(m, np.zeros(3, "float32"), 2), ShapeError, "look_back=5"),
        (lambda m: forecast(m, np.array([1.0, np.nan] * 4), 2), ShapeError, "timestep 1"),
        (lambda m: forecast(m, np.zeros((2, 2, 2, 2)), 2), ShapeError, "history must be"),
        (lambda m: forecast(m, np.zeros(8), 0), ValueError, "steps"),
        (lambda m: forecast(m, np.zeros((8, 3)), 2), ShapeError, r"history has 3 feature\(s\)"),
        (lambda m: forecast(m, np.zeros((8, 1)), 2, targets=[1]), ConfigError, "targets"),
    ],
)
def test_forecast_refuses_bad_input_with_the_argument_named(call, error, message) -> None:
    model = topologies.many_to_one(5, 1, units=4)
    with pytest.raises(error, match=message):
        call(model)


def test_models_that_need_the_whole_sequence_cannot_be_stepped() -> None:
    model = Sequential([Input((None, 2)), Bidirectional(LSTM(4, return_sequences=True)), Dense(2)])
    with pytest.raises(ConfigError, match="bidirectional"):
        Stream(model)
    backwards = Sequential([Input((None, 2)), LSTM(4, return_sequences=True, go_backwards=True)])
    with pytest.raises(ConfigError, match="go_backwards"):
        Stepper.of(backwards)


@pytest.mark.parametrize(
    "layers",
    [
        [LSTM(5, return_sequences=True), LSTM(4, return_sequences=True)],
        [GRU(5, return_sequences=True, reset_after=False)],  # the step-loop path
        [SimpleRNN(5, return_sequences=True, activation="relu")],
        [Masking(-9.0), LSTM(5, activation="relu", return_sequences=True), LSTM(3)],
    ],
    ids=["stacked-lstm", "gru-loop", "simplernn-relu", "masking-loop-last-step"],
)
def test_stepping_one_step_at_a_time_equals_the_whole_sequence(layers: list) -> None:
    unrolled.set_random_seed(5)
    model = Sequential([Input((None, 2)), *layers, Dense(3)])
    x = torch.randn(4, 9, 2)
    stepper = Stepper.of(model)
    output, states = stepper(x[:, :4])
    for t in range(4, 9):
        output, states = stepper(x[:, t : t + 1], states)
    whole = model(x)
    last = whole[:, -1] if whole.dim() == 3 else whole
    stepped = output[:, -1] if output.dim() == 3 else output
    torch.testing.assert_close(stepped, last, rtol=0, atol=1e-6)


def test_stream_of_every_series_equals_a_stateful_model_fed_the_same_steps() -> None:
    unrolled.set_random_seed(6)
    model = _stateful_step_model(features=2, batch=4)
    stream = Stream(model)
    stream.add(["a", "b", "c", "d"])
    steps = np.random.default_rng(6).normal(size=(7, 4, 2)).astype("float32")
    model.reset_state()
    for step in steps:
        expected = model.predict(step[:, None], batch_size=4, verbose=0)[:, -1]
        np.testing.assert_allclose(stream.step(["a", "b", "c", "d"], step), expected, atol=1e-6)


def test_stream_steps_any_subset_and_leaves_the_others_alone() -> None:
    unrolled.set_random_seed(7)
    model = _stateful_step_model(features=1, batch=1)
    rng = np.random.default_rng(7)
    ids = [f"stock{i}" for i in range(5)]
    stream = Stream(model)
    stream.add(ids)
    # Oracle: one batch-1 stateful model per series, its states swapped in and out by hand.
    saved = {i: [np.zeros((1, 8)), np.zeros((1, 8))] for i in ids}
    name = model.layers[0].name
    for _ in range(6):
        chosen = [i for i in ids if rng.random() < 0.5] or ids[:1]
        values = rng.normal(size=(len(chosen), 1)).astype("float32")
        outputs = stream.step(chosen, values)
        for row, series in enumerate(chosen):
            model.set_states({name: saved[series]})
            expected = model.predict(values[row : row + 1, None], batch_size=1, verbose=0)[0, -1]
            saved[series] = model.get_states()[name]
            np.testing.assert_allclose(outputs[row], expected, atol=1e-6)
    for series in ids:
        for mine, theirs in zip(stream.get_states(series), saved[series]):
            np.testing.assert_allclose(mine, theirs[0], atol=1e-6)


def test_stream_adds_drops_resets_and_restores_series(tmp_path) -> None:
    model = Sequential([Input((None, 2)), LSTM(4, return_sequences=True), Dense(1)])
    stream = Stream(model)
    stream.add(["x", "y"])
    x = np.ones((2, 2), "float32")
    stream.step(["x", "y"], x)
    stream.save(tmp_path / "states.safetensors")
    after_save = stream.step(["x", "y"], x)
    stream.drop(["y"])
    assert stream.ids == ["x"]
    with pytest.raises(ConfigError, match="add it first"):
        stream.step(["y"], x[:1])
    stream.add(["z"])  # reuses y's row, from zero states
    np.testing.assert_array_equal(stream.get_states("z")[0], np.zeros(4))
    restored = Stream(model)
    restored.restore(tmp_path / "states.safetensors")
    assert restored.ids == ["x", "y"]
    np.testing.assert_allclose(restored.step(["x", "y"], x), after_save, atol=1e-6)
    stream.reset()
    np.testing.assert_array_equal(stream.get_states("x")[1], np.zeros(4))
    with pytest.raises(ShapeError, match="len\\(ids\\)"):
        stream.step(["x", "z"], np.ones((3, 2)))
