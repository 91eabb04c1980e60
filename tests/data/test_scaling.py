"""MinMaxScaler and StandardScaler against closed-form NumPy and sklearn's documented numbers."""

from __future__ import annotations

import json

import numpy as np
import pytest

import unrolled
from unrolled.data import MinMaxScaler, StandardScaler, scaler_from_state

RNG = np.random.default_rng(0)
DATA_3D = RNG.normal(3.0, 2.0, size=(5, 7, 3))  # (samples, timesteps, features)


def min_max_oracle(fit_on, x, low=0.0, high=1.0):
    flat = fit_on.reshape(-1, fit_on.shape[-1])
    data_min, data_max = flat.min(axis=0), flat.max(axis=0)
    data_range = np.where(data_max == data_min, 1.0, data_max - data_min)
    return (x - data_min) / data_range * (high - low) + low


def standard_oracle(fit_on, x):
    flat = fit_on.reshape(-1, fit_on.shape[-1])
    mean = flat.sum(axis=0) / len(flat)
    std = np.sqrt(((flat - mean) ** 2).sum(axis=0) / len(flat))  # population (ddof=0)
    return (x - mean) / np.where(std == 0, 1.0, std)


@pytest.mark.parametrize("rank", [2, 3])
@pytest.mark.parametrize("feature_range", [(0.0, 1.0), (-1.0, 1.0)])
def test_min_max_equals_closed_form(rank, feature_range):
    x = DATA_3D if rank == 3 else DATA_3D[0]
    scaler = MinMaxScaler(feature_range)
    got = scaler.fit_transform(x)
    np.testing.assert_allclose(got, min_max_oracle(x, x, *feature_range), rtol=1e-12, atol=1e-12)
    assert got.shape == x.shape
    np.testing.assert_allclose(got.reshape(-1, 3).min(0), feature_range[0], atol=1e-12)
    np.testing.assert_allclose(got.reshape(-1, 3).max(0), feature_range[1], atol=1e-12)
    np.testing.assert_allclose(scaler.inverse_transform(got), x, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("rank", [2, 3])
def test_standard_equals_closed_form(rank):
    x = DATA_3D if rank == 3 else DATA_3D[0]
    scaler = StandardScaler()
    got = scaler.fit_transform(x)
    np.testing.assert_allclose(got, standard_oracle(x, x), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(scaler.var_, x.reshape(-1, 3).var(axis=0), rtol=1e-12)
    assert scaler.n_samples_seen_ == x.size // 3
    np.testing.assert_allclose(scaler.inverse_transform(got), x, rtol=1e-12, atol=1e-12)


def test_a_one_dimensional_series_is_one_feature():
    series = np.array([2.0, 4.0, 6.0, 10.0])
    scaled = MinMaxScaler().fit_transform(series)
    np.testing.assert_allclose(scaled, [0.0, 0.25, 0.5, 1.0])
    assert scaled.shape == (4,)
    standard = StandardScaler().fit(series)
    # Fitted on (timesteps,), it scales (samples, timesteps, 1) windows of the same series.
    np.testing.assert_allclose(
        standard.transform(series.reshape(1, 4, 1))[0, :, 0],
        standard_oracle(series[:, None], series[:, None])[:, 0],
    )


def test_statistics_fitted_on_windows_equal_those_fitted_on_the_flattened_steps():
    flat = DATA_3D.reshape(-1, 3)
    on_3d, on_2d = StandardScaler().fit(DATA_3D), StandardScaler().fit(flat)
    np.testing.assert_allclose(on_3d.mean_, on_2d.mean_, rtol=1e-12)
    np.testing.assert_allclose(on_3d.scale_, on_2d.scale_, rtol=1e-12)


def test_sklearn_documented_examples():
    # The numbers printed in sklearn's MinMaxScaler and StandardScaler docstrings.
    data = np.array([[-1, 2], [-0.5, 6], [0, 10], [1, 18]])
    scaler = MinMaxScaler().fit(data)
    np.testing.assert_array_equal(scaler.data_max_, [1.0, 18.0])
    np.testing.assert_array_equal(
        scaler.transform(data), [[0, 0], [0.25, 0.25], [0.5, 0.5], [1, 1]]
    )
    np.testing.assert_array_equal(scaler.transform([[2, 2]]), [[1.5, 0.0]])
    data = np.array([[0, 0], [0, 0], [1, 1], [1, 1]])
    scaler = StandardScaler().fit(data)
    np.testing.assert_array_equal(scaler.mean_, [0.5, 0.5])
    np.testing.assert_array_equal(scaler.transform(data), [[-1, -1], [-1, -1], [1, 1], [1, 1]])
    np.testing.assert_array_equal(scaler.transform([[2, 2]]), [[3.0, 3.0]])


def test_a_constant_feature_gets_scale_one():
    x = np.column_stack([np.arange(5.0), np.full(5, 7.0), np.full(5, 0.1)])
    with np.errstate(all="raise"):  # any division by zero would raise here
        min_max = MinMaxScaler((-1.0, 1.0)).fit(x)
        standard = StandardScaler().fit(x)
        scaled, standardized = min_max.transform(x), standard.transform(x)
    np.testing.assert_array_equal(min_max.scale_[1:], [2.0, 2.0])  # (high - low) / 1
    np.testing.assert_array_equal(scaled[:, 1:], -1.0)  # sklearn maps it to feature_range[0]
    np.testing.assert_array_equal(standard.scale_[1:], [1.0, 1.0])
    np.testing.assert_allclose(standardized[:, 1:], 0.0, atol=1e-15)
    np.testing.assert_allclose(min_max.inverse_transform(scaled), x, rtol=1e-15)


def test_float32_stays_float32_and_integers_become_float64():
    x32 = DATA_3D.astype(np.float32)
    scaled = MinMaxScaler().fit(x32).transform(x32)
    assert scaled.dtype == np.float32
    np.testing.assert_allclose(scaled, min_max_oracle(DATA_3D, DATA_3D), atol=1e-6)
    assert StandardScaler().fit_transform(np.arange(6).reshape(3, 2)).dtype == np.float64


def test_transform_never_changes_its_input():
    x = DATA_3D.copy()
    scaler = StandardScaler().fit(x)
    scaler.transform(x)
    scaler.inverse_transform(x)
    np.testing.assert_array_equal(x, DATA_3D)


def test_clip_keeps_new_data_in_range():
    scaler = MinMaxScaler(clip=True).fit(np.array([0.0, 10.0]))
    np.testing.assert_array_equal(scaler.transform(np.array([-5.0, 5.0, 20.0])), [0.0, 0.5, 1.0])


def test_with_mean_and_with_std_switch_each_step_off():
    x = DATA_3D[0]
    centred = StandardScaler(with_std=False).fit_transform(x)
    np.testing.assert_allclose(centred, x - x.mean(axis=0), rtol=1e-12)
    scaled = StandardScaler(with_mean=False).fit_transform(x)
    np.testing.assert_allclose(scaled, x / x.std(axis=0), rtol=1e-12)


def test_features_picks_the_target_column_to_invert():
    x = DATA_3D[0]
    scaler = MinMaxScaler().fit(x)
    scaled_column = scaler.transform(x)[:, [2]]  # e.g. a model's predictions of feature 2
    np.testing.assert_allclose(
        scaler.inverse_transform(scaled_column, features=[2]), x[:, [2]], rtol=1e-12
    )
    np.testing.assert_allclose(
        scaler.transform(x[:, [2, 0]], features=[2, 0]), scaler.transform(x)[:, [2, 0]]
    )


@pytest.mark.parametrize("cls", [MinMaxScaler, StandardScaler])
def test_state_survives_json_exactly(cls):
    scaler = cls().fit(DATA_3D)
    state = json.loads(json.dumps(scaler.get_state()))
    for rebuilt in (cls.from_state(state), scaler_from_state(state)):
        assert type(rebuilt) is cls
        np.testing.assert_array_equal(rebuilt.transform(DATA_3D), scaler.transform(DATA_3D))
        assert rebuilt.n_samples_seen_ == scaler.n_samples_seen_
    unfitted = cls.from_state(json.loads(json.dumps(cls().get_state())))
    assert unfitted.n_features_in_ is None


def test_state_holds_plain_values():
    state = MinMaxScaler((-1, 1)).fit(DATA_3D[0]).get_state()
    assert state["class"] == "MinMaxScaler"
    assert state["config"] == {"feature_range": [-1.0, 1.0], "clip": False}
    assert all(isinstance(v, float) for v in state["statistics"]["data_min_"])


@pytest.mark.parametrize("cls", [MinMaxScaler, StandardScaler])
def test_transform_before_fit_says_to_fit(cls):
    with pytest.raises(unrolled.ConfigError, match=r"not fitted yet: call fit\(x\)"):
        cls().transform(DATA_3D)
    with pytest.raises(unrolled.ConfigError, match="not fitted yet"):
        cls().inverse_transform(DATA_3D)


@pytest.mark.parametrize("cls", [MinMaxScaler, StandardScaler])
def test_another_feature_count_names_expected_and_received(cls):
    scaler = cls().fit(DATA_3D)
    with pytest.raises(
        unrolled.ShapeError, match=r"expected x with 3 feature.*Received: x.shape=\(5, 7, 2\)"
    ):
        scaler.transform(DATA_3D[..., :2])
    with pytest.raises(unrolled.ShapeError, match=r"expected x with 1 feature.*features=\[0\]"):
        scaler.inverse_transform(DATA_3D, features=[0])


def test_bad_arguments_and_values_are_named():
    with pytest.raises(
        unrolled.ConfigError, match=r"feature_range.*Received: feature_range=\(1, 0\)"
    ):
        MinMaxScaler((1, 0))
    with pytest.raises(unrolled.ConfigError, match="`x` has a NaN at timestep 1, feature 0"):
        StandardScaler().fit(np.array([[1.0], [np.nan]]))
    with pytest.raises(unrolled.ConfigError, match=r"features.*Received: features=\[5\]"):
        MinMaxScaler().fit(DATA_3D).transform(DATA_3D[..., :1], features=[5])
    with pytest.raises(unrolled.ConfigError, match="from_state expects .*MinMaxScaler"):
        MinMaxScaler.from_state(StandardScaler().get_state())
    with pytest.raises(unrolled.ShapeError, match="scalar"):
        MinMaxScaler().fit(np.float64(3.0))
    with pytest.raises(unrolled.InputTypeError, match="must hold numbers"):
        StandardScaler().fit(np.array(["a", "b"]))
