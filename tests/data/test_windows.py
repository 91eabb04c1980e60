"""windows() against a hand-written loop, its zero-copy promise, and its errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import unrolled
from unrolled.data import Windows, windows


def loop_windows(series, look_back, horizon=1, stride=1, targets=None):
    """The oracle: the seeds' create_dataset loop, written out with every window kept."""
    data = np.asarray(series, dtype=np.float64)
    data = data[:, None] if data.ndim == 1 else data
    columns = list(range(data.shape[1])) if targets is None else np.atleast_1d(targets).tolist()
    xs, ys = [], []
    start = 0
    while start + look_back + horizon <= len(data):
        xs.append(data[start : start + look_back])
        row = []
        for step in range(horizon):
            for column in columns:
                row.append(data[start + look_back + step, column])
        ys.append(row)
        start += stride
    return np.array(xs), np.array(ys)


def seeds_create_dataset(dataset, look_back=1):
    """The seeds' function, as the tutorials have it (one window short)."""
    data_x, data_y = [], []
    for i in range(len(dataset) - look_back - 1):
        data_x.append(dataset[i : (i + look_back), 0])
        data_y.append(dataset[i + look_back, 0])
    return np.array(data_x), np.array(data_y)


SERIES_2D = np.random.default_rng(0).normal(size=(23, 3))


@pytest.mark.parametrize("look_back", [1, 4])
@pytest.mark.parametrize("horizon", [1, 3])
@pytest.mark.parametrize("stride", [1, 2, 5])
@pytest.mark.parametrize("targets", [None, 1, [0, 2], [2, 0], (1, 2)])
def test_windows_equal_the_loop(look_back, horizon, stride, targets):
    x, y = windows(SERIES_2D, look_back, horizon=horizon, stride=stride, targets=targets)
    want_x, want_y = loop_windows(SERIES_2D, look_back, horizon, stride, targets)
    np.testing.assert_array_equal(x, want_x)
    np.testing.assert_array_equal(y, want_y)
    assert len(x) == (len(SERIES_2D) - look_back - horizon) // stride + 1


def test_univariate_series_gives_samples_by_one_targets():
    series = np.arange(10.0, dtype=np.float32)
    x, y = windows(series, look_back=3)
    assert x.shape == (7, 3, 1) and y.shape == (7, 1)
    assert x.dtype == np.float32
    want_x, want_y = loop_windows(series, 3)
    np.testing.assert_array_equal(x, want_x)
    np.testing.assert_array_equal(y, want_y)


def test_every_window_is_kept_where_create_dataset_drops_one():
    series = np.arange(12.0)[:, None]
    seeds_x, seeds_y = seeds_create_dataset(series, look_back=3)
    x, y = windows(series, look_back=3)
    assert len(seeds_x) == len(series) - 3 - 1
    assert len(x) == len(series) - 3
    # The windows they share are the same; ours adds the last one.
    np.testing.assert_array_equal(x[:-1, :, 0], seeds_x)
    np.testing.assert_array_equal(y[:-1, 0], seeds_y)
    np.testing.assert_array_equal(y[-1], [11.0])


@pytest.mark.parametrize("layout", ["1-D", "2-D", "2-D one target"])
def test_one_series_is_windowed_without_a_copy(layout):
    if layout == "1-D":
        series, targets = np.arange(50.0), None
    else:
        series, targets = np.arange(100.0).reshape(50, 2), (1 if "one" in layout else None)
    x, y = windows(series, look_back=8, horizon=3, targets=targets)
    assert np.shares_memory(x, series)
    assert np.shares_memory(y, series)
    assert not x.flags.writeable  # a view must not let a write reach the series


def test_a_torch_series_is_viewed_not_copied():
    series = torch.arange(20.0)
    x, _ = windows(series, look_back=4)
    assert np.shares_memory(x, series.numpy())


def test_windows_unpack_and_name_their_parts():
    result = windows(np.arange(8.0), look_back=2, horizon=2)
    assert isinstance(result, Windows)
    x, y = result
    assert result.x is x and result.y is y
    assert y.shape == (5, 2)


def test_several_series_never_window_across_their_border():
    first, second = np.arange(6.0), np.arange(100.0, 105.0)
    x, y = windows([first, second], look_back=2)
    want = [loop_windows(first, 2), loop_windows(second, 2)]
    np.testing.assert_array_equal(x, np.concatenate([want[0][0], want[1][0]]))
    np.testing.assert_array_equal(y, np.concatenate([want[0][1], want[1][1]]))
    assert len(x) == (6 - 2) + (5 - 2)


def test_windows_train_a_dense_output_of_horizon_times_targets():
    series = np.sin(np.arange(60.0) / 4).astype(np.float32)[:, None].repeat(2, axis=1)
    x, y = windows(series, look_back=5, horizon=3, targets=[0, 1])
    unrolled.set_random_seed(0)
    model = unrolled.Sequential([unrolled.Input((5, 2)), unrolled.LSTM(4), unrolled.Dense(3 * 2)])
    model.compile(loss="mse", optimizer="adam")
    history = model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert model.predict(x, verbose=0).shape == y.shape


def test_too_short_a_series_names_the_lengths():
    with pytest.raises(unrolled.ShapeError, match=r"5 timesteps.*look_back \+ horizon = 3 \+ 3"):
        windows(np.arange(5.0), look_back=3, horizon=3)
    with pytest.raises(unrolled.ShapeError, match=r"series\[1\]"):
        windows([np.arange(10.0), np.arange(3.0)], look_back=3)


def test_a_nan_is_reported_with_its_index():
    series = np.ones((10, 2))
    series[6, 1] = np.nan
    with pytest.raises(unrolled.ConfigError, match="`series` has a NaN at timestep 6, feature 1"):
        windows(series, look_back=2)
    with pytest.raises(ValueError, match=r"`series\[1\]` has an infinite value .* timestep 2"):
        windows([np.ones(5), np.array([0.0, 1.0, np.inf, 3.0])], look_back=2)


def test_wrong_rank_names_the_expected_shapes():
    with pytest.raises(
        unrolled.ShapeError, match=r"\(timesteps,\) or \(timesteps, features\).*\(2, 3, 4\)"
    ):
        windows(np.zeros((2, 3, 4)), look_back=1)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"look_back": 0}, "look_back"),
        ({"look_back": 2, "horizon": 0}, "horizon"),
        ({"look_back": 2, "stride": 1.5}, "stride"),
        ({"look_back": 2, "targets": 3}, "targets"),
        ({"look_back": 2, "targets": [0, 0]}, "targets"),
        ({"look_back": 2, "targets": "a"}, "targets"),
    ],
)
def test_bad_arguments_are_named(kwargs, name):
    with pytest.raises(unrolled.ConfigError, match=f"{name}.*Received: {name}="):
        windows(np.zeros((10, 3)), **kwargs)


def test_text_and_mismatched_series_are_refused():
    with pytest.raises(unrolled.InputTypeError, match="`series` must hold numbers"):
        windows(np.array(["a", "b", "c"]), look_back=1)
    with pytest.raises(unrolled.ShapeError, match="same number of features"):
        windows([np.zeros((5, 2)), np.zeros((5, 3))], look_back=1)
