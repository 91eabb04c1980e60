"""Generated forecasts: `forecast(model, history, steps)` and the `Forecaster` job.

A forecast that works must equal the sliding-window loop of the seeds (predict the next
value, append it, drop the oldest); everything else is refused naming the argument.
"""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given
from hypothesis import strategies as st
from robustness.contract import attempt, counted, refused, worked

import unrolled
from unrolled import topologies
from unrolled.forecasting.forecaster import Forecaster, ForecastSettings

L = 4  # look_back
WINDOW = topologies.many_to_one(L, 1, units=3)  # (samples, 4, 1) -> (samples, 1)
OPEN = topologies.many_to_one(None, 1, units=3)  # windows of any length: needs look_back=
TWO = topologies.many_to_one(L, 2, outputs=1, units=3)  # predicts column 0 of 2


def sliding(model, history, steps, look_back=L):
    """The seeds' loop: predict one step from the last window, append it, slide."""
    window = [float(v) for v in history[-look_back:]]
    out = []
    with torch.no_grad():
        for _ in range(steps):
            x = torch.tensor(window[-look_back:], dtype=torch.float32).reshape(1, look_back, 1)
            out.append(float(model(x)[0, 0]))
            window.append(out[-1])
    return np.asarray(out)


bad_steps = st.sampled_from([0, -1, 1.5, "3", None, True])


@given(
    mistake=st.sampled_from(
        [None, None, None, "steps", "rank", "dtype", "nan", "empty", "short", "features", "unbuilt"]
    ),
    length=st.integers(L, 9),
    steps=st.integers(1, 5),
    dtype=st.sampled_from(["float32", "float64", "int64"]),
    draw=st.data(),
    seed=st.integers(0, 2**16),
)
@counted
def test_forecast_slides_like_the_seeds_loop_or_names_the_argument(
    mistake, length, steps, dtype, draw, seed
):
    model = WINDOW
    history = np.random.default_rng(seed).integers(0, 5, size=length).astype(dtype)
    if mistake == "steps":
        steps = draw.draw(bad_steps)
    if mistake == "rank":
        history = np.zeros(draw.draw(st.sampled_from([(), (2, 3, 1, 1), (1, 2, 3, 4, 5)])))
    if mistake == "dtype":
        history = draw.draw(
            st.sampled_from(
                [np.full(6, "a"), np.zeros(6, complex), np.full(6, None), [[1], [2, 3]]]
            )
        )
    if mistake == "nan":
        history = history.astype(np.float64)
        history[seed % length] = draw.draw(st.sampled_from([np.nan, np.inf]))
    if mistake == "empty":
        history = np.zeros(draw.draw(st.sampled_from([(0,), (0, 1), (0, 5, 1), (2, 0, 1)])))
    if mistake == "short":
        history = history[: L - 1]
    if mistake == "features":
        history = np.zeros((length, draw.draw(st.sampled_from([2, 3]))))
    if mistake == "unbuilt":
        model = unrolled.Sequential([unrolled.LSTM(3), unrolled.Dense(1)])
    call = lambda: unrolled.forecast(model, history, steps)  # noqa: E731
    if mistake is None:
        got = worked("forecast", call)
        np.testing.assert_allclose(got, sliding(model, history, steps), rtol=1e-5, atol=1e-6)
        return
    kinds = {
        "steps": ("non-positive or non-integer steps", "steps"),
        "rank": ("wrong rank history", "history"),
        "dtype": ("non-real history", "history"),
        "nan": ("NaN or inf in history", "history"),
        "empty": ("empty history", "history"),
        "short": ("history shorter than look_back", "history"),
        "features": ("history with other features", "history"),
        "unbuilt": ("forecast with an unbuilt model", "model"),
    }
    kind, argument = kinds[mistake]
    refused(kind, call, argument)


@given(
    look_back=st.one_of(st.integers(1, 5), st.sampled_from([0, -2, 2.5, "3", None])),
    steps=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
@counted
def test_forecast_with_an_open_window_needs_a_positive_look_back(look_back, steps, seed):
    history = np.random.default_rng(seed).normal(size=6).astype(np.float32)
    call = lambda: unrolled.forecast(OPEN, history, steps, look_back=look_back)  # noqa: E731
    valid = isinstance(look_back, int) and not isinstance(look_back, bool) and look_back > 0
    if not valid:
        refused("non-positive or non-integer look_back", call, "look_back")
        return
    got = worked("forecast with look_back", call)
    np.testing.assert_allclose(got, sliding(OPEN, history, steps, look_back), rtol=1e-5, atol=1e-6)


@given(
    targets=st.sampled_from([None, [0], [1], [2], [0, 0], 0, "0", [0.0]]),
    future=st.sampled_from(["ok", None, "short", "strings", "nan", "wide"]),
    seed=st.integers(0, 2**16),
)
@counted
def test_forecast_of_some_columns_needs_targets_and_the_future_of_the_others(targets, future, seed):
    rng = np.random.default_rng(seed)
    history = rng.normal(size=(6, 2)).astype(np.float32)
    known = {
        "ok": rng.normal(size=(3, 1)),
        None: None,
        "short": np.zeros((2, 1)),
        "strings": np.full((3, 1), "a"),
        "nan": np.full((3, 1), np.nan),
        "wide": np.zeros((3, 2)),
    }[future]
    call = lambda: unrolled.forecast(TWO, history, 3, targets=targets, future=known)  # noqa: E731
    if not (isinstance(targets, list) and targets in ([0], [1]) and type(targets[0]) is int):
        refused("targets that are not column indices", call, "targets")
    elif future != "ok":
        refused(f"future: {future}", call, "future")
    else:
        got = worked("forecast with covariates", call)
        assert got.shape == (3, 1) and np.isfinite(got).all()


def settings_mistakes():
    good = st.sampled_from(["look_back", "horizon", "epochs", "batch_size", "units"])
    return st.one_of(
        st.tuples(good, st.sampled_from([0, -1, 2.5, "3", None, True])),
        st.tuples(st.just("units"), st.sampled_from([[], [2, 0], [2, "a"]])),
        st.tuples(st.just("topology"), st.sampled_from(["many_to_many", "", None])),
        st.tuples(st.just("cell"), st.sampled_from(["lstmm", "", "LSTMCell", 5])),
        st.tuples(st.just("transform"), st.sampled_from(["logg", None, ""])),
        st.tuples(st.just("learning_rate"), st.sampled_from([0, -0.1, np.nan, np.inf, "0.1"])),
    )


@given(mistake=settings_mistakes())
@counted
def test_forecaster_settings_are_checked_when_made(mistake):
    argument, value = mistake
    refused(f"bad Forecaster {argument}", lambda: Forecaster(**{argument: value}), argument)


@given(
    series=st.sampled_from(["strings", "nan", "3d", "short", "complex"]),
)
@counted
def test_forecaster_fit_refuses_series_it_cannot_learn_from(series):
    forecaster = Forecaster(ForecastSettings(look_back=3, horizon=1, epochs=1, units=[2]))
    levels = {
        "strings": np.full(20, "a"),
        "nan": np.where(np.arange(20) == 7, np.nan, np.arange(20.0)),
        "3d": np.zeros((2, 20, 1)),
        "short": np.arange(4.0),
        "complex": np.arange(20) + 1j,
    }[series]
    outcome = attempt(
        f"Forecaster.fit on a {series} series", lambda: forecaster.fit(levels), "levels"
    )
    assert not hasattr(outcome, "value"), series
