"""Chronological splits: the test part is always the end, never shuffled in.

Two ways, for two moments:

- `split_series` splits the series *before* windowing, and gives the test part the
  `look_back` steps before it as context, so the first test window predicts the step
  right after the training part and no test target is ever a training target.
- `train_test_split` splits samples that are already windows (or any arrays), with a
  `gap` of dropped samples so that windows with `horizon > 1` do not share targets.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import torch

from unrolled.errors import ConfigError, ShapeError


class SeriesSplit(NamedTuple):
    """`train, test = split_series(...)`."""

    train: np.ndarray  # (train_steps, ...)
    test: np.ndarray  # (look_back + test_steps, ...)


def split_series(series: Any, test_size: float | int = 0.25, look_back: int = 0) -> SeriesSplit:
    """Splits a series in time: the last `test_size` steps are the test part.

    `test` starts `look_back` steps early, with the end of the training part as context, so
    that `windows(test, look_back, horizon)` has its first target at the first test step and
    its targets cover exactly the test steps. Fit a scaler on `train` only.

    Args:
        series: `(timesteps, ...)`: a 1-D or 2-D series (any array split along axis 0).
        test_size: a fraction of the timesteps in (0, 1) (rounded up), or a
            number of timesteps.
        look_back: the steps of context to put before the test part: the `look_back` you
            window with.

    Shapes:
        train: `(timesteps - test_steps, ...)`; test: `(look_back + test_steps, ...)`.

    Returns:
        `SeriesSplit(train, test)`: views of `series` (the last `look_back` training steps
        appear in both, as inputs only).

    Raises:
        ConfigError: `test_size` leaves no training or no test step, or `look_back` is longer
            than the training part.
        ShapeError: `series` is 0-D.

    Example:
        >>> train, test = split_series(np.arange(10), test_size=0.3, look_back=2)
        >>> train, test
        (array([0, 1, 2, 3, 4, 5, 6]), array([5, 6, 7, 8, 9]))
    """
    array = _as_array(series, "series")
    timesteps = len(array)
    test_steps = _test_count(test_size, timesteps, "timesteps")
    train_steps = timesteps - test_steps
    if isinstance(look_back, bool) or not isinstance(look_back, (int, np.integer)) or look_back < 0:
        raise ConfigError(
            f"`look_back` must be a non-negative integer. Received: look_back={look_back!r}"
        )
    if look_back > train_steps:
        raise ConfigError(
            f"`look_back` ({look_back}) is longer than the training part ({train_steps} of "
            f"{timesteps} timesteps with test_size={test_size!r}): the test part cannot take "
            "its context from it. Use a smaller look_back or test_size."
        )
    return SeriesSplit(array[:train_steps], array[train_steps - look_back :])


def train_test_split(
    x: Any, y: Any = None, test_size: float | int = 0.25, gap: int = 0
) -> tuple[Any, ...]:
    """Splits samples in order: the first ones train, the last `test_size` ones test.

    Args:
        x: `(samples, ...)` array or tensor, e.g. windows from `windows()`.
        y: `(samples, ...)` targets, or None.
        test_size: a fraction of the samples in (0, 1) (rounded up), or a
            number of samples.
        gap: samples dropped between the two parts. For windows made with `horizon` h and
            `stride` s, `gap = ceil(h / s) - 1` makes sure that no test target is also a
            training target (with `horizon=1`, 0 is enough).

    Shapes:
        x_train `(samples - gap - test, ...)`, x_test `(test, ...)`; the same for y.

    Returns:
        `(x_train, x_test)`, or `(x_train, x_test, y_train, y_test)` when `y` is given
        (sklearn's order); views (slices) of the inputs.

    Raises:
        ShapeError: `x` and `y` have different numbers of samples.
        ConfigError: `test_size` or `gap` leaves no training or no test sample.

    Keras differences: sklearn's function of this name shuffles by default; for a time
    series that leaks the future into training, so this one never shuffles.

    Example:
        >>> x_train, x_test, y_train, y_test = train_test_split(np.arange(5), np.arange(5) * 10, 2)
        >>> x_train, x_test, y_test
        (array([0, 1, 2]), array([3, 4]), array([30, 40]))
    """
    x = _as_array(x, "x")
    samples = len(x)
    if y is not None:
        y = _as_array(y, "y")
        if len(y) != samples:
            raise ShapeError(
                f"`x` and `y` must have the same number of samples (first axis). Received: "
                f"x with {samples}, y with {len(y)}."
            )
    if isinstance(gap, bool) or not isinstance(gap, (int, np.integer)) or gap < 0:
        raise ConfigError(f"`gap` must be a non-negative integer. Received: gap={gap!r}")
    test = _test_count(test_size, samples, "samples")
    train = samples - test - gap
    if train < 1:
        raise ConfigError(
            f"test_size={test_size!r} ({test} test samples) and gap={gap} leave no training "
            f"sample out of {samples}. Use a smaller test_size or gap."
        )
    parts = (x[:train], x[train + gap :])
    return parts if y is None else (*parts, y[:train], y[train + gap :])


def _as_array(value: Any, name: str) -> Any:
    try:
        array = value if isinstance(value, (np.ndarray, torch.Tensor)) else np.asarray(value)
    except ValueError:
        raise ShapeError(
            f"`{name}` is ragged: its items have different lengths. Pass an array (pad the "
            "sequences with pad_sequences first)."
        ) from None
    if array.ndim == 0:
        raise ShapeError(
            f"`{name}` must have a samples (or timesteps) axis first. Received a scalar: {value!r}"
        )
    return array


def _test_count(test_size: float | int, total: int, unit: str) -> int:
    """The number of test items: a count, or a fraction of `total` rounded up."""
    if isinstance(test_size, (int, np.integer)) and not isinstance(test_size, bool):
        count = int(test_size)
    elif isinstance(test_size, (float, np.floating)) and 0.0 < test_size < 1.0:
        # Rounded up, as sklearn does; the tolerance keeps 0.7 * 10 at 7, not 8.
        count = math.ceil(float(test_size) * total - 1e-9)
    else:
        count = 0
    if not 0 < count < total:
        raise ConfigError(
            f"`test_size` must be a fraction in (0, 1) or a count in [1, {total}) of the {total} "
            f"{unit}, leaving at least one for training. Received: test_size={test_size!r}"
        )
    return count
