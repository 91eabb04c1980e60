"""Chronological splits: order kept, sizes as stated, and no test target among training data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import unrolled
from unrolled.data import split_series, train_test_split, windows


def test_train_test_split_keeps_order_and_returns_views():
    x, y = np.arange(20).reshape(10, 2), np.arange(10) * 10
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.3)
    np.testing.assert_array_equal(x_train, x[:7])
    np.testing.assert_array_equal(x_test, x[7:])
    np.testing.assert_array_equal(y_train, y[:7])
    np.testing.assert_array_equal(y_test, y[7:])
    assert np.shares_memory(x_train, x) and np.shares_memory(y_test, y)


@pytest.mark.parametrize(
    "test_size, samples, expected",
    [(0.25, 10, 3), (0.7, 10, 7), (0.2, 10, 2), (0.01, 10, 1), (4, 10, 4)],
)
def test_test_size_is_a_rounded_up_fraction_or_a_count(test_size, samples, expected):
    x_train, x_test = train_test_split(np.arange(samples), test_size=test_size)
    assert len(x_test) == expected and len(x_train) == samples - expected


def test_tensors_are_split_as_tensors():
    x_train, x_test = train_test_split(torch.arange(8), test_size=2)
    assert isinstance(x_test, torch.Tensor) and x_test.tolist() == [6, 7]


@pytest.mark.parametrize("horizon", [1, 2, 5])
@pytest.mark.parametrize("stride", [1, 2])
def test_gap_keeps_every_test_target_out_of_training(horizon, stride):
    series = np.arange(60.0)  # each value is its own timestep index
    x, y = windows(series, look_back=4, horizon=horizon, stride=stride)
    gap = -(-horizon // stride) - 1  # ceil(h / s) - 1
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, gap=gap)
    seen_in_training = set(x_train.ravel()) | set(y_train.ravel())
    assert not seen_in_training & set(y_test.ravel())
    if gap:  # and without the gap, there would be overlap
        _, _, y_train0, y_test0 = train_test_split(x, y, test_size=0.25)
        assert set(y_train0.ravel()) & set(y_test0.ravel())


@pytest.mark.parametrize("look_back", [1, 3])
@pytest.mark.parametrize("horizon", [1, 4])
def test_split_series_then_windows_predicts_exactly_the_test_steps(look_back, horizon):
    series = np.arange(40.0)
    train, test = split_series(series, test_size=10, look_back=look_back)
    _, y_train = windows(train, look_back, horizon)
    x_test, y_test = windows(test, look_back, horizon)
    test_steps = set(range(30, 40))
    assert set(y_test.ravel()) == test_steps  # every test step is a target, nothing else
    assert y_test[0, 0] == 30  # the first test window predicts the step right after train
    assert not set(y_train.ravel()) & test_steps
    assert not set(train) & test_steps
    # The test inputs reach back into train only as context: the last look_back steps.
    assert set(x_test.ravel()) - test_steps == set(range(30 - look_back, 30))
    assert np.shares_memory(train, series) and np.shares_memory(test, series)


def test_split_series_of_features_splits_timesteps():
    series = np.arange(30.0).reshape(15, 2)
    train, test = split_series(series, test_size=0.2, look_back=2)
    np.testing.assert_array_equal(train, series[:12])
    np.testing.assert_array_equal(test, series[10:])


def test_bad_sizes_name_the_argument_and_the_counts():
    with pytest.raises(unrolled.ConfigError, match=r"test_size.*\[1, 5\).*Received: test_size=5"):
        train_test_split(np.arange(5), test_size=5)
    with pytest.raises(unrolled.ConfigError, match="Received: test_size=1.5"):
        split_series(np.arange(5), test_size=1.5)
    with pytest.raises(unrolled.ConfigError, match="Received: test_size=0.0"):
        split_series(np.arange(5), test_size=0.0)
    with pytest.raises(unrolled.ConfigError, match=r"gap=3 leave no training sample out of 5"):
        train_test_split(np.arange(5), test_size=2, gap=3)
    with pytest.raises(unrolled.ConfigError, match="Received: gap=-1"):
        train_test_split(np.arange(5), test_size=2, gap=-1)
    with pytest.raises(
        unrolled.ConfigError, match=r"`look_back` \(8\) is longer than the training part \(6"
    ):
        split_series(np.arange(10), test_size=4, look_back=8)


def test_mismatched_samples_name_both_counts():
    with pytest.raises(unrolled.ShapeError, match="x with 5, y with 4"):
        train_test_split(np.arange(5), np.arange(4))
    with pytest.raises(unrolled.ShapeError, match="scalar"):
        split_series(3.0)
