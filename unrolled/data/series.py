"""What counts as a series, and the checks every data function makes on one.

A series is a NumPy array (or anything `np.asarray` accepts without copying: a torch CPU
tensor, a pandas column) of shape `(timesteps,)` or `(timesteps, features)`. Several
series are a list of them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from unrolled.errors import ConfigError, InputTypeError, ShapeError, shape_str


def as_series(value: Any, name: str) -> np.ndarray:
    """`value` as a `(timesteps, features)` array, a view of it where NumPy allows.

    A 1-D series becomes `(timesteps, 1)`: one feature.

    Raises:
        InputTypeError: the values are not numbers.
        ShapeError: the array is not 1-D or 2-D.
        ConfigError: a value is NaN or infinite (the message gives its index).
    """
    array = as_numeric(value, name)
    if array.ndim not in (1, 2):
        raise ShapeError(
            f"`{name}` must be a series of shape (timesteps,) or (timesteps, features). "
            f"Received: {name}.shape={shape_str(array.shape)}. For several series, pass a list "
            "of them."
        )
    series = array[:, None] if array.ndim == 1 else array  # (T, F), a view
    if series.shape[1] == 0:
        raise ShapeError(
            f"`{name}` has no features: shape {shape_str(array.shape)}. A series is "
            "(timesteps,) or (timesteps, features) with at least one feature."
        )
    check_finite(series, name)
    return series


def as_numeric(value: Any, name: str) -> np.ndarray:
    """`np.asarray(value)`, refusing what is not numbers (strings, objects)."""
    try:
        array = np.asarray(value)
    except (TypeError, ValueError, RuntimeError) as error:
        raise InputTypeError(
            f"`{name}` must be an array of numbers. Received: {type(value).__name__} ({error})"
        ) from None
    if np.issubdtype(array.dtype, np.complexfloating):
        raise InputTypeError(
            f"`{name}` must hold real numbers. Received an array of dtype {array.dtype}; pass "
            f"its real part ({name}.real) or split real and imaginary parts into two features."
        )
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise InputTypeError(
            f"`{name}` must hold numbers. Received an array of dtype {array.dtype}; convert it "
            "first (e.g. `np.asarray(values, dtype='float32')`)."
        )
    return array


def check_finite(array: np.ndarray, name: str) -> None:
    """Raises ConfigError at the first NaN or infinite value, naming its index."""
    if not np.issubdtype(array.dtype, np.inexact):
        return  # integers and booleans are always finite
    finite = np.isfinite(array)
    if finite.all():
        return
    index = tuple(int(i) for i in np.argwhere(~finite)[0])
    value = array[index]
    kind = "a NaN" if np.isnan(value) else f"an infinite value ({value})"
    where = f"timestep {index[0]}" + (f", feature {index[1]}" if len(index) == 2 else "")
    if len(index) > 2:
        where = f"index {index}"
    raise ConfigError(
        f"`{name}` has {kind} at {where} (of {np.count_nonzero(~finite)} non-finite value(s)). "
        "Fill or drop missing values first, e.g. pandas' `interpolate()` or `dropna()`."
    )


def several(value: Any) -> bool:
    """Whether `value` is several series: a list or tuple of arrays or lists.

    A NumPy array (or tensor) is always one series; so is a flat list of numbers.
    """
    return (
        isinstance(value, (list, tuple))
        and len(value) > 0
        and all(np.ndim(item) >= 1 for item in value)
    )
