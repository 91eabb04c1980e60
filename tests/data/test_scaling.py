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


# -- scikit-learn's estimator protocol, against scikit-learn itself -------------------------------
SKLEARN_OPTIONS = [
    ("MinMaxScaler", {}),
    ("MinMaxScaler", {"feature_range": (-1, 1)}),
    ("MinMaxScaler", {"feature_range": (2.0, 5.0), "clip": True}),
    ("StandardScaler", {}),
    ("StandardScaler", {"with_mean": False}),
    ("StandardScaler", {"with_std": False}),
]
FITTED = {
    "MinMaxScaler": ["data_min_", "data_max_", "data_range_", "scale_", "min_"],
    "StandardScaler": ["mean_", "var_", "scale_"],
}


def _pair(name, options):
    """Our scaler and sklearn's, with the same options."""
    preprocessing = pytest.importorskip("sklearn.preprocessing")
    return getattr(unrolled, name)(**options), getattr(preprocessing, name)(**options)


@pytest.mark.parametrize(("name", "options"), SKLEARN_OPTIONS)
def test_numbers_equal_sklearns_scaler(name, options):
    ours, theirs = _pair(name, options)
    x, new = DATA_3D[0], DATA_3D[1] * 3.0  # new data beyond the fitted range, for `clip`
    np.testing.assert_allclose(ours.fit_transform(x), theirs.fit_transform(x), rtol=1e-12)
    np.testing.assert_allclose(ours.transform(new), theirs.transform(new), rtol=1e-12)
    np.testing.assert_allclose(
        ours.inverse_transform(new), theirs.inverse_transform(new), rtol=1e-12
    )
    for attribute in FITTED[name]:
        if getattr(theirs, attribute) is not None:  # sklearn's None for a step switched off
            np.testing.assert_allclose(getattr(ours, attribute), getattr(theirs, attribute))
    assert ours.n_features_in_ == theirs.n_features_in_
    assert ours.n_samples_seen_ == theirs.n_samples_seen_


@pytest.mark.parametrize(("name", "options"), SKLEARN_OPTIONS)
def test_windows_scale_as_sklearn_scales_their_flattened_steps(name, options):
    ours, theirs = _pair(name, options)
    flat = DATA_3D.reshape(-1, 3)  # (samples * timesteps, features)
    expected = theirs.fit_transform(flat).reshape(DATA_3D.shape)
    np.testing.assert_allclose(ours.fit_transform(DATA_3D), expected, rtol=1e-12)


@pytest.mark.parametrize(("name", "options"), SKLEARN_OPTIONS)
def test_get_params_are_the_constructor_arguments_as_sklearns(name, options):
    ours, theirs = _pair(name, options)
    expected = {k: v for k, v in theirs.get_params(deep=False).items() if k != "copy"}
    assert ours.get_params() == expected  # ours always copies: sklearn's default copy=True
    for key, value in options.items():
        assert ours.get_params(deep=True)[key] is value  # kept as given, as clone requires


@pytest.mark.parametrize(("name", "options"), SKLEARN_OPTIONS)
def test_clone_gives_an_unfitted_copy_with_the_same_params(name, options):
    base = pytest.importorskip("sklearn.base")
    validation = pytest.importorskip("sklearn.utils.validation")
    fitted = getattr(unrolled, name)(**options).fit(DATA_3D)
    copy = base.clone(fitted)
    assert type(copy) is type(fitted) and copy is not fitted
    assert copy.get_params() == fitted.get_params()
    assert copy.n_features_in_ is None
    with pytest.raises(validation.NotFittedError):
        validation.check_is_fitted(copy)
    validation.check_is_fitted(fitted)
    np.testing.assert_array_equal(copy.fit(DATA_3D).transform(DATA_3D), fitted.transform(DATA_3D))


def test_set_params_returns_the_scaler_and_refuses_unknown_names_as_sklearn():
    scaler = StandardScaler()
    assert scaler.set_params(with_mean=False) is scaler and scaler.with_mean is False
    assert scaler.set_params() is scaler
    with pytest.raises(ValueError, match=r"Invalid parameter 'feature_range'.*\['with_mean', "):
        scaler.set_params(feature_range=(0, 1))
    minmax = MinMaxScaler()
    with pytest.raises(unrolled.ConfigError, match=r"feature_range=\(3, 1\)"):
        minmax.set_params(clip=True, feature_range=(3, 1))
    assert minmax.get_params() == {"clip": False, "feature_range": (0.0, 1.0)}  # nothing changed


def test_set_params_on_a_fitted_scaler_equals_fitting_with_those_params():
    x = DATA_3D[0]
    changed = MinMaxScaler().fit(x).set_params(feature_range=(-1, 1))
    refitted = MinMaxScaler(feature_range=(-1, 1)).fit(x)
    np.testing.assert_array_equal(changed.transform(x), refitted.transform(x))
    rebuilt = MinMaxScaler.from_state(json.loads(json.dumps(changed.get_state())))
    np.testing.assert_array_equal(rebuilt.transform(x), changed.transform(x))


@pytest.mark.parametrize("cls", [MinMaxScaler, StandardScaler])
def test_fit_accepts_and_ignores_y(cls):
    y = np.arange(len(DATA_3D[0]))
    with_y = cls().fit(DATA_3D[0], y).transform(DATA_3D[0])
    np.testing.assert_array_equal(with_y, cls().fit(DATA_3D[0]).transform(DATA_3D[0]))
    np.testing.assert_array_equal(cls().fit_transform(DATA_3D[0], y), with_y)


@pytest.mark.parametrize(("name", "options"), SKLEARN_OPTIONS)
def test_pipeline_with_linear_regression_predicts_as_with_sklearns_scaler(name, options):
    pipeline = pytest.importorskip("sklearn.pipeline")
    linear_model = pytest.importorskip("sklearn.linear_model")
    ours, theirs = _pair(name, options)
    rng = np.random.default_rng(3)
    x, x_new = rng.normal(2.0, 3.0, size=(40, 3)), rng.normal(2.0, 3.0, size=(10, 3))
    y = x @ np.array([1.5, -2.0, 0.5]) + rng.normal(0.0, 0.1, size=40)
    predictions = [
        pipeline.Pipeline([("scale", scaler), ("model", linear_model.LinearRegression())])
        .fit(x, y)
        .predict(x_new)
        for scaler in (ours, theirs)
    ]
    np.testing.assert_allclose(predictions[0], predictions[1], rtol=1e-10, atol=1e-10)


def test_grid_search_sets_params_through_a_pipeline():
    pipeline = pytest.importorskip("sklearn.pipeline")
    linear_model = pytest.importorskip("sklearn.linear_model")
    model_selection = pytest.importorskip("sklearn.model_selection")
    rng = np.random.default_rng(4)
    x = rng.normal(size=(30, 2))
    y = x @ np.array([1.0, -1.0])
    steps = [("scale", MinMaxScaler()), ("model", linear_model.Ridge())]
    search = model_selection.GridSearchCV(
        pipeline.Pipeline(steps), {"scale__feature_range": [(0, 1), (-1, 1)]}, cv=3
    ).fit(x, y)
    assert search.best_estimator_.named_steps["scale"].feature_range in [(0, 1), (-1, 1)]
    assert steps[0][1].n_features_in_ is None  # the search fitted clones, not our scaler


def test_repr_shows_the_arguments_that_differ_from_defaults_as_sklearn():
    assert repr(MinMaxScaler()) == "MinMaxScaler()"
    assert repr(MinMaxScaler(feature_range=(-1, 1))) == "MinMaxScaler(feature_range=(-1, 1))"
    assert repr(StandardScaler(with_std=False)) == "StandardScaler(with_std=False)"
