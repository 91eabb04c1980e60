"""`windows`: a series cut into `(look_back steps -> next horizon steps)` samples, as views."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

from unrolled.data.series import as_series, several
from unrolled.errors import ConfigError, ShapeError, positive_int, shape_str


class Windows(NamedTuple):
    """Inputs and targets for `fit`: `x, y = windows(series, look_back)`."""

    x: np.ndarray  # (samples, look_back, features)
    y: np.ndarray  # (samples, horizon * targets)


def windows(
    series: Any,
    look_back: int,
    horizon: int = 1,
    stride: int = 1,
    targets: int | Sequence[int] | None = None,
) -> Windows:
    """Cuts a series into windows of `look_back` steps, each with the `horizon` steps after it.

    Window `i` holds steps `[i * stride, i * stride + look_back)` as input and steps
    `[i * stride + look_back, ... + horizon)` of the target columns as target, so
    `model.fit(x, y)` trains a model that ends in `Dense(horizon * targets)`.

    Args:
        series: `(timesteps,)` or `(timesteps, features)` numbers; or a list of such series,
            windowed one by one (no window crosses from one series into the next) and
            concatenated.
        look_back: steps per input window (the seeds' `look_back`).
        horizon: steps to predict after each window.
        stride: steps between the starts of consecutive windows.
        targets: the feature column(s) to predict: an int, a list of ints, or None for all.

    Shapes:
        x: `(samples, look_back, features)`, `features` is 1 for a 1-D series.
        y: `(samples, horizon * targets)`, step-major: for two targets and horizon 2 a row is
        `[t+1 target 0, t+1 target 1, t+2 target 0, t+2 target 1]`
        (`y.reshape(samples, horizon, targets)` gives steps and targets apart).
        For the seeds' univariate series, `(samples, 1)`: the shape `Dense(1)` outputs.
        `samples = (timesteps - look_back - horizon) // stride + 1`.

    Returns:
        `Windows(x, y)`, a named tuple. For one series, `x` is a read-only view of `series`
        (no copy: the copy happens when `fit` turns it into a tensor), and so is `y` for
        `horizon=1`, for one target column, or for all columns of a C-ordered series;
        otherwise `y` is a small copy. A list of series is concatenated: a copy.
        The dtype is `series`'s: pass float32 to avoid a conversion later.

    Raises:
        ShapeError: `series` is not 1-D or 2-D, is shorter than `look_back + horizon`, or the
            series of a list have different feature counts.
        ConfigError: a NaN or infinite value (its index is named), a bad `look_back`,
            `horizon`, `stride` or `targets`.
        InputTypeError: `series` does not hold numbers.

    Keras differences: the seeds' `create_dataset(dataset, look_back)` loops over
    `range(len(dataset) - look_back - 1)`, dropping the last window (`len - look_back - 1`
    samples), and returns `y` of shape `(samples,)`; ours gives every window,
    `len - look_back` of them for `horizon=1`, with `y` of shape `(samples, 1)`, and `x`
    already `(samples, look_back, features)`: no reshape needed.

    Example:
        >>> x, y = windows(np.arange(6.0), look_back=3)
        >>> x.shape, y.shape
        ((3, 3, 1), (3, 1))
        >>> x[0, :, 0], y[:, 0]
        (array([0., 1., 2.]), array([3., 4., 5.]))
        >>> x, y = windows(np.arange(12.0).reshape(6, 2), look_back=2, horizon=2, targets=1)
        >>> x.shape, y[0]
        ((3, 2, 2), array([5., 7.]))
    """
    look_back = positive_int(look_back, "look_back")
    horizon = positive_int(horizon, "horizon")
    stride = positive_int(stride, "stride")
    if not several(series):
        return _windows_of_one(as_series(series, "series"), look_back, horizon, stride, targets)
    parts = []
    for index, item in enumerate(series):
        name = f"series[{index}]"
        data = as_series(item, name)
        if parts:
            check_same_features(parts[0].x.shape[2], data.shape, name)
        parts.append(_windows_of_one(data, look_back, horizon, stride, targets, name))
    # Views of different arrays cannot form one array: this is where a list costs a copy.
    return Windows(np.concatenate([p.x for p in parts]), np.concatenate([p.y for p in parts]))


def _windows_of_one(
    data: np.ndarray,
    look_back: int,
    horizon: int,
    stride: int,
    targets: int | Sequence[int] | None,
    name: str = "series",
) -> Windows:
    features = data.shape[1]
    samples = window_count(data.shape[0], look_back, horizon, stride, name)
    step, feature = data.strides
    x = as_strided(
        data,
        shape=(samples, look_back, features),
        strides=(stride * step, step, feature),
        writeable=False,
    )  # (samples, look_back, features), a view
    columns = target_columns(targets, features)
    chosen = data[:, columns]  # (T, targets): a view for a slice, a copy for a list
    y = as_strided(
        chosen[look_back:],
        shape=(samples, horizon, chosen.shape[1]),
        strides=(stride * chosen.strides[0], *chosen.strides),
        writeable=False,
    )  # (samples, horizon, targets)
    # NumPy reshapes in place when the strides allow (horizon 1, one target, whole rows).
    return Windows(x, y.reshape(samples, horizon * chosen.shape[1]))


def window_count(timesteps: int, look_back: int, horizon: int, stride: int, name: str) -> int:
    """How many windows a series of `timesteps` steps gives; ShapeError when not one."""
    if timesteps < look_back + horizon:
        raise ShapeError(
            f"`{name}` has {timesteps} timesteps; one window needs look_back + horizon = "
            f"{look_back} + {horizon} = {look_back + horizon}. Use a smaller look_back or "
            "horizon, or a longer series."
        )
    return (timesteps - look_back - horizon) // stride + 1


def check_same_features(
    first: int, shape: tuple[int, ...], name: str, first_name: str = "series[0]"
) -> None:
    """ShapeError unless the series `name`, of `shape`, has `first_name`'s `first` features."""
    if shape[1] != first:
        raise ShapeError(
            f"Every series must have the same number of features; {first_name} has {first}, "
            f"{name} has {shape[1]} (shape {shape_str(shape)})."
        )


def target_columns(targets: int | Sequence[int] | None, features: int) -> slice | np.ndarray:
    """The target columns as a slice where possible (so that selecting them is a view)."""
    if targets is None:
        return slice(None)
    if isinstance(targets, (int, np.integer)) and not isinstance(targets, bool):
        items: list[Any] = [targets]
    elif isinstance(targets, (list, tuple, range, np.ndarray)):
        items = list(np.ravel(targets)) if isinstance(targets, np.ndarray) else list(targets)
    else:
        items = []  # refused below
    valid = [
        isinstance(t, (int, np.integer)) and not isinstance(t, bool) and -features <= t < features
        for t in items
    ]
    if not items or not all(valid) or len({int(t) % features for t in items}) < len(items):
        raise ConfigError(
            f"`targets` must be a feature index in [0, {features}) or a list of distinct ones, or "
            f"None for every feature; the series has {features} feature(s). Received: "
            f"targets={targets!r}"
        )
    columns = [int(t) % features for t in items]
    gaps = {b - a for a, b in zip(columns, columns[1:])}
    if len(columns) == 1 or (len(gaps) == 1 and gaps.pop() > 0):
        step = columns[1] - columns[0] if len(columns) > 1 else 1
        return slice(columns[0], columns[-1] + 1, step)
    return np.array(columns)
