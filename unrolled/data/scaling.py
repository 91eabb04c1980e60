"""`MinMaxScaler` and `StandardScaler`: sklearn's per-feature scalers, for series and windows.

The last axis is the features axis, whatever the rank: `(timesteps,)` is one feature,
`(timesteps, features)` and `(samples, timesteps, features)` are scaled column by column,
with statistics over every other axis. The numbers are sklearn's, including its rule for a
constant feature (its scale is 1, so nothing is divided by zero).

A scaler's state is a dict of plain lists and numbers (`get_state()`), so it can be written
as JSON and rebuilt with `from_state()` (or `scaler_from_state()` for either class).

Both follow scikit-learn's estimator protocol (`get_params`, `set_params`, `fit(x, y=None)`,
`fit_transform`, fitted attributes ending in `_`), so they go in a `sklearn.pipeline.Pipeline`
and through `sklearn.base.clone`; scikit-learn itself is never imported here.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from unrolled.data.series import as_numeric, check_finite
from unrolled.errors import ConfigError, ShapeError, shape_str

Features = int | Sequence[int] | None


class Scaler:
    """What both scalers share: feature-axis handling, checks, the state dict, and
    scikit-learn's estimator protocol.

    The constructor's arguments are kept as given (sklearn's `clone` checks that they are the
    very objects it passed) and are this scaler's `get_params()`.
    """

    # The fitted statistics that `get_state` saves; the rest is recomputed from them.
    _saved: ClassVar[tuple[str, ...]] = ()

    n_features_in_: int | None
    n_samples_seen_: int | None

    def __init__(self) -> None:
        self.n_features_in_ = None
        self.n_samples_seen_ = None

    # -- the public methods -------------------------------------------------------------------
    def fit(self, x: Any, y: Any = None) -> Scaler:
        """Computes the per-feature statistics of `x`; returns the scaler.

        Args:
            x: `(..., features)`, or 1-D for one feature.
            y: ignored; accepted so that a sklearn `Pipeline` can pass its targets along.

        Raises:
            ShapeError: `x` is 0-D or has no values.
            ConfigError: `x` holds a NaN or infinite value (its index is named).
        """
        array = _features_last(as_numeric(x, "x"), "x")  # (..., F)
        if array.size == 0:
            raise ShapeError(
                f"{type(self).__name__}.fit needs at least one value. Received: x.shape="
                f"{shape_str(array.shape)}"
            )
        check_finite(array, "x")
        axes = tuple(range(array.ndim - 1))  # every axis but the features
        self._fit_statistics(array.astype(np.float64, copy=False), axes)
        self.n_features_in_ = int(array.shape[-1])
        self.n_samples_seen_ = int(array.size // array.shape[-1])
        return self

    def transform(self, x: Any, features: Features = None) -> np.ndarray:
        """Scales `x` feature by feature; the result has `x`'s shape.

        Args:
            x: `(..., features)`, or 1-D for a one-feature scaler.
            features: the fitted feature columns that `x` holds, in order (e.g. `[0]` for the
                target column of a multivariate scaler); None for all of them.
        """
        array, columns = self._prepare(x, features, "transform")
        return self._forward(array, columns)

    def inverse_transform(self, x: Any, features: Features = None) -> np.ndarray:
        """Undoes `transform`. `features` as in `transform`: pass the target column(s) to turn
        a model's predictions back into data units when the scaler was fitted on more columns.
        """
        array, columns = self._prepare(x, features, "inverse_transform")
        return self._backward(array, columns)

    def fit_transform(self, x: Any, y: Any = None) -> np.ndarray:
        """`fit(x)` then `transform(x)`; `y` is ignored, as in `fit`."""
        return self.fit(x).transform(x)

    # -- scikit-learn's estimator protocol -----------------------------------------------------
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor's arguments by name, as given (`deep` is sklearn's; nothing is nested).

        Example:
            >>> MinMaxScaler(feature_range=(-1, 1)).get_params()
            {'clip': False, 'feature_range': (-1, 1)}
        """
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> Scaler:
        """Sets constructor arguments by name; returns the scaler.

        The constructor's checks run first, so a bad value changes nothing. A fitted scaler
        keeps its fitted statistics and recomputes what follows from the options (a
        `MinMaxScaler`'s `scale_` for a new `feature_range`), so `get_state()` still describes it.

        Raises:
            ConfigError (a ValueError, as sklearn raises): a name that is not a constructor
                argument, or a value the constructor refuses.

        Example:
            >>> MinMaxScaler().set_params(clip=True).clip
            True
        """
        valid = self._param_names()
        for name in params:
            if name not in valid:
                raise ConfigError(
                    f"Invalid parameter {name!r} for estimator {self!r}. Valid parameters are: "
                    f"{valid!r}."
                )
        type(self)(**{**self.get_params(), **params})  # the constructor's checks, nothing kept
        for name, value in params.items():
            setattr(self, name, value)
        if self.n_features_in_ is not None:
            saved = {name: getattr(self, name) for name in self._saved}
            self._set_statistics(saved, self.n_samples_seen_ or 0)
        return self

    def __sklearn_is_fitted__(self) -> bool:
        # `n_features_in_` exists (as None) before fit, so sklearn's attribute scan would say yes.
        return self.n_features_in_ is not None

    def __sklearn_tags__(self) -> Any:
        # Only scikit-learn calls this, so it is importable here.
        from sklearn.utils import InputTags, Tags, TargetTags, TransformerTags

        return Tags(
            estimator_type=None,
            target_tags=TargetTags(required=False),
            transformer_tags=TransformerTags(preserves_dtype=["float64", "float32"]),
            input_tags=InputTags(one_d_array=True, three_d_array=True, allow_nan=False),
        )

    def __repr__(self) -> str:
        """sklearn's style: the class and the arguments that differ from their defaults."""
        defaults = self._param_defaults()
        changed = [
            f"{name}={value!r}"
            for name, value in self.get_params().items()
            if not _is_default(value, defaults[name])
        ]
        return f"{type(self).__name__}({', '.join(changed)})"

    @classmethod
    def _param_names(cls) -> list[str]:
        return sorted(cls._param_defaults())

    @classmethod
    def _param_defaults(cls) -> dict[str, Any]:
        """The constructor's arguments and defaults, read from its signature (as sklearn does)."""
        parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]  # no self
        return {p.name: p.default for p in parameters if p.kind is p.POSITIONAL_OR_KEYWORD}

    def get_state(self) -> dict[str, Any]:
        """The scaler as plain Python values (JSON-ready): class name, options, statistics.

        `statistics` is None before `fit`.
        """
        statistics = None
        if self.n_features_in_ is not None:
            statistics = {name: getattr(self, name).tolist() for name in self._saved}
            statistics["n_samples_seen_"] = self.n_samples_seen_
        return {"class": type(self).__name__, "config": self._config(), "statistics": statistics}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Scaler:
        """Rebuilds a scaler from `get_state()`'s dict; it transforms exactly as the original."""
        if not isinstance(state, dict) or state.get("class") != cls.__name__:
            found = state.get("class") if isinstance(state, dict) else type(state).__name__
            raise ConfigError(
                f"{cls.__name__}.from_state expects the dict of a {cls.__name__}'s get_state(). "
                f"Received: class {found!r}"
            )
        scaler = cls(**state.get("config", {}))
        statistics = state.get("statistics")
        if statistics is not None:
            missing = [n for n in (*cls._saved, "n_samples_seen_") if n not in statistics]
            if missing:
                raise ConfigError(
                    f"{cls.__name__}.from_state: the state's statistics lack {missing}."
                )
            values = {n: np.asarray(statistics[n], dtype=np.float64) for n in cls._saved}
            scaler._set_statistics(values, int(statistics["n_samples_seen_"]))
        return scaler

    # -- what each scaler defines -------------------------------------------------------------
    def _config(self) -> dict[str, Any]:
        raise NotImplementedError

    def _fit_statistics(self, array: np.ndarray, axes: tuple[int, ...]) -> None:
        raise NotImplementedError

    def _set_statistics(self, values: dict[str, np.ndarray], samples: int) -> None:
        raise NotImplementedError

    def _forward(self, array: np.ndarray, columns: Any) -> np.ndarray:
        raise NotImplementedError

    def _backward(self, array: np.ndarray, columns: Any) -> np.ndarray:
        raise NotImplementedError

    # -- checks -------------------------------------------------------------------------------
    def _prepare(self, x: Any, features: Features, method: str) -> tuple[np.ndarray, Any]:
        """A float copy of `x` to work in, and the fitted columns it holds."""
        name = type(self).__name__
        if self.n_features_in_ is None:
            raise ConfigError(
                f"This {name} is not fitted yet: call fit(x) or fit_transform(x) before {method}()."
            )
        array = as_numeric(x, "x")
        columns = _columns(features, self.n_features_in_)
        expected = self.n_features_in_ if columns is None else len(columns)
        received = 1 if array.ndim == 1 else array.shape[-1] if array.ndim else None
        if received != expected:
            what = "" if columns is None else f" (features={list(columns)})"
            raise ShapeError(
                f"{name}.{method}: expected x with {expected} feature(s) on its last axis"
                f"{what}; the scaler was fitted on {self.n_features_in_}. Received: x.shape="
                f"{shape_str(array.shape)}. Arrays are (timesteps, features) or (samples, "
                "timesteps, features); pass `features=[...]` to scale only some fitted columns."
            )
        # sklearn keeps float32 (and float16) data in its type; other inputs become float64.
        dtype = array.dtype if np.issubdtype(array.dtype, np.floating) else np.float64
        return np.array(array, dtype=dtype, copy=True), columns


class MinMaxScaler(Scaler):
    """Scales each feature to `feature_range`: `x * scale_ + min_` (sklearn's formula).

    Args:
        feature_range: `(low, high)` of the scaled data.
        clip: clip transformed values to `feature_range` (for data beyond the fitted range).

    Shapes:
        any `(..., features)`; a 1-D array is one feature. Results keep the input's shape.

    Attributes (after `fit`, sklearn's names): `data_min_`, `data_max_`, `data_range_`,
    `scale_`, `min_`, `n_features_in_`, `n_samples_seen_`.

    Raises:
        ConfigError: `feature_range` is not two increasing numbers; `transform` before `fit`;
            NaN or infinite values in `fit`.
        ShapeError: `transform` with another feature count than `fit`.

    A scikit-learn estimator: `get_params`/`set_params`, `fit(x, y=None)`, `fit_transform`;
    it works in `sklearn.pipeline.Pipeline` and `sklearn.base.clone`.

    Keras differences (from sklearn): 1-D and 3-D arrays are accepted, the last axis being the
    features; `fit` refuses NaN instead of ignoring it; `set_params(feature_range=...)` on a
    fitted scaler recomputes `scale_` and `min_` (sklearn waits for the next `fit`).

    Example:
        >>> scaler = MinMaxScaler()
        >>> scaler.fit_transform(np.array([[1.0, 10.0], [3.0, 10.0], [5.0, 10.0]]))
        array([[0. , 0. ],
               [0.5, 0. ],
               [1. , 0. ]])
        >>> scaler.inverse_transform(np.array([[0.25]]), features=[0])
        array([[2.]])
    """

    _saved = ("data_min_", "data_max_")

    def __init__(self, feature_range: Sequence[float] = (0.0, 1.0), clip: bool = False) -> None:
        super().__init__()
        _bounds(feature_range)  # refused now, not at the first fit
        self.feature_range = feature_range  # as given: see `Scaler`
        self.clip = clip

    def _config(self) -> dict[str, Any]:
        return {"feature_range": list(_bounds(self.feature_range)), "clip": bool(self.clip)}

    def _fit_statistics(self, array: np.ndarray, axes: tuple[int, ...]) -> None:
        values = {"data_min_": array.min(axis=axes), "data_max_": array.max(axis=axes)}
        self._set_statistics(values, 0)

    def _set_statistics(self, values: dict[str, np.ndarray], samples: int) -> None:
        self.data_min_ = values["data_min_"]  # (F,)
        self.data_max_ = values["data_max_"]  # (F,)
        self.data_range_ = self.data_max_ - self.data_min_
        low, high = _bounds(self.feature_range)
        self.scale_ = (high - low) / _nonzero_range(self.data_range_)
        self.min_ = low - self.data_min_ * self.scale_
        self.n_features_in_ = len(self.data_min_)
        self.n_samples_seen_ = samples

    def _forward(self, array: np.ndarray, columns: Any) -> np.ndarray:
        scale, shift = _pick(self.scale_, columns), _pick(self.min_, columns)
        array *= scale.astype(array.dtype)
        array += shift.astype(array.dtype)
        if self.clip:
            np.clip(array, *_bounds(self.feature_range), out=array)
        return array

    def _backward(self, array: np.ndarray, columns: Any) -> np.ndarray:
        scale, shift = _pick(self.scale_, columns), _pick(self.min_, columns)
        array -= shift.astype(array.dtype)
        array /= scale.astype(array.dtype)
        return array


class StandardScaler(Scaler):
    """Scales each feature to zero mean and unit variance: `(x - mean_) / scale_`.

    `scale_` is the population standard deviation (sklearn's, `ddof=0`), 1 for a constant
    feature.

    Args:
        with_mean: subtract the mean.
        with_std: divide by the standard deviation.

    Shapes:
        any `(..., features)`; a 1-D array is one feature. Results keep the input's shape.

    Attributes (after `fit`, sklearn's names): `mean_`, `var_`, `scale_`, `n_features_in_`,
    `n_samples_seen_`.

    Raises:
        ConfigError: `transform` before `fit`; NaN or infinite values in `fit`.
        ShapeError: `transform` with another feature count than `fit`.

    A scikit-learn estimator: `get_params`/`set_params`, `fit(x, y=None)`, `fit_transform`;
    it works in `sklearn.pipeline.Pipeline` and `sklearn.base.clone`.

    Keras differences (from sklearn): 1-D and 3-D arrays are accepted, the last axis being the
    features; `fit` refuses NaN instead of ignoring it; `mean_`, `var_` and `scale_` are
    always set (sklearn sets them to None when `with_mean`/`with_std` is False).

    Example:
        >>> scaler = StandardScaler().fit(np.array([1.0, 2.0, 3.0]))
        >>> float(scaler.mean_[0]), scaler.transform(np.array([1.0, 3.0]))
        (2.0, array([-1.22474487,  1.22474487]))
    """

    _saved = ("mean_", "var_")

    def __init__(self, with_mean: bool = True, with_std: bool = True) -> None:
        super().__init__()
        self.with_mean = with_mean  # as given: see `Scaler`
        self.with_std = with_std

    def _config(self) -> dict[str, Any]:
        return {"with_mean": bool(self.with_mean), "with_std": bool(self.with_std)}

    def _fit_statistics(self, array: np.ndarray, axes: tuple[int, ...]) -> None:
        samples = int(array.size // array.shape[-1])
        values = {"mean_": array.mean(axis=axes), "var_": array.var(axis=axes)}
        self._set_statistics(values, samples)

    def _set_statistics(self, values: dict[str, np.ndarray], samples: int) -> None:
        self.mean_ = values["mean_"]  # (F,)
        self.var_ = values["var_"]  # (F,)
        # sklearn's test for a constant feature: a variance within float64 rounding of zero.
        eps = np.finfo(np.float64).eps
        constant = self.var_ <= samples * eps * self.var_ + (samples * self.mean_ * eps) ** 2
        self.scale_ = np.where(constant, 1.0, np.sqrt(self.var_))
        self.n_features_in_ = len(self.mean_)
        self.n_samples_seen_ = samples

    def _forward(self, array: np.ndarray, columns: Any) -> np.ndarray:
        if self.with_mean:
            array -= _pick(self.mean_, columns).astype(array.dtype)
        if self.with_std:
            array /= _pick(self.scale_, columns).astype(array.dtype)
        return array

    def _backward(self, array: np.ndarray, columns: Any) -> np.ndarray:
        if self.with_std:
            array *= _pick(self.scale_, columns).astype(array.dtype)
        if self.with_mean:
            array += _pick(self.mean_, columns).astype(array.dtype)
        return array


def scaler_from_state(state: dict[str, Any]) -> Scaler:
    """Rebuilds a `MinMaxScaler` or `StandardScaler` from its `get_state()` dict.

    Example:
        >>> import json
        >>> scaler = MinMaxScaler().fit(np.array([0.0, 4.0]))
        >>> scaler_from_state(json.loads(json.dumps(scaler.get_state()))).transform(np.array([1.0]))
        array([0.25])
    """
    classes = {cls.__name__: cls for cls in (MinMaxScaler, StandardScaler)}
    name = state.get("class") if isinstance(state, dict) else None
    if name not in classes:
        raise ConfigError(
            f"`state` must be a scaler's get_state() dict, with 'class' one of {sorted(classes)}. "
            f"Received: class {name!r}"
        )
    return classes[name].from_state(state)


def _bounds(feature_range: Any) -> tuple[float, float]:
    """`(low, high)` as floats, or ConfigError."""
    try:
        low, high = (float(v) for v in feature_range)
    except (TypeError, ValueError):
        low = high = float("nan")
    if not low < high:  # also refuses NaN
        raise ConfigError(
            "`feature_range` must be (low, high) numbers with low < high. Received: "
            f"feature_range={feature_range!r}"
        )
    return low, high


def _is_default(value: Any, default: Any) -> bool:
    # Same type first: an array argument must not be compared element by element.
    return value is default or (type(value) is type(default) and value == default)


def _features_last(array: np.ndarray, name: str) -> np.ndarray:
    """`(..., features)`: a 1-D array is one feature."""
    if array.ndim == 0:
        raise ShapeError(
            f"`{name}` must be (timesteps,), (timesteps, features) or (samples, timesteps, "
            f"features). Received a scalar: {name}={array!r}"
        )
    return array[:, None] if array.ndim == 1 else array


def _nonzero_range(data_range: np.ndarray) -> np.ndarray:
    # sklearn's `_handle_zeros_in_scale`: a range within rounding of zero divides by 1.
    return np.where(data_range < 10 * np.finfo(data_range.dtype).eps, 1.0, data_range)


def _columns(features: Features, fitted: int) -> list[int] | None:
    if features is None:
        return None
    if isinstance(features, (int, np.integer)):
        items: list[Any] = [features]
    else:
        items = list(features) if isinstance(features, (list, tuple, range, np.ndarray)) else []
    if not items or any(
        isinstance(f, bool) or not isinstance(f, (int, np.integer)) or not 0 <= f < fitted
        for f in items
    ):
        raise ConfigError(
            f"`features` must be a fitted feature index in [0, {fitted}) or a list of them, or "
            f"None for all. Received: features={features!r}"
        )
    return [int(f) for f in items]


def _pick(statistic: np.ndarray, columns: list[int] | None) -> np.ndarray:
    return statistic if columns is None else statistic[columns]
