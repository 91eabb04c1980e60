"""Keras 1/2 argument names, given their Keras 3 meaning.

Keras 3 still accepts `input_shape=` and `input_dim=` on a layer, so we take them
silently. It refuses `batch_input_shape=` and `batch_size=`, which the seeds use for
stateful models: we take them with a DeprecationWarning that names the Keras 3 way.
"""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from unrolled.errors import ConfigError, shape_str

BatchShape = tuple[int | None, ...]


def pop_batch_shape(kwargs: dict[str, Any], layer: str) -> BatchShape | None:
    """Removes the input-shape arguments from `kwargs`; returns the full batch shape or None.

    The result includes the samples axis: `input_shape=(3, 1)` gives `(None, 3, 1)`.
    """
    batch_shape = kwargs.pop("batch_shape", None)  # what get_config() gives back
    input_shape = kwargs.pop("input_shape", None)
    input_dim = kwargs.pop("input_dim", None)
    batch_input_shape = kwargs.pop("batch_input_shape", None)
    batch_size = kwargs.pop("batch_size", None)
    if batch_shape is not None:
        return as_shape(batch_shape, "batch_shape")
    if batch_input_shape is not None:
        warnings.warn(
            f"{layer}: `batch_input_shape` was removed in Keras 3; "
            f"use `Input(batch_shape={shape_str(batch_input_shape)})` as the first layer.",
            DeprecationWarning,
            stacklevel=3,
        )
        return as_shape(batch_input_shape, "batch_input_shape")
    if input_dim is not None and input_shape is None:
        input_shape = (input_dim,)
    if input_shape is None:
        return None
    if batch_size is not None:
        warnings.warn(
            f"{layer}: `batch_size` on a layer was removed in Keras 3; "
            "use `Input(shape, batch_size=...)` as the first layer.",
            DeprecationWarning,
            stacklevel=3,
        )
    return (batch_size, *as_shape(input_shape, "input_shape"))


def as_shape(shape: Any, argument: str) -> BatchShape:
    """`shape` as a tuple of positive ints and Nones, or ConfigError naming `argument`."""
    if isinstance(shape, int):
        shape = (shape,)
    iterable = not isinstance(shape, (str, bytes)) and hasattr(shape, "__iter__")
    if not iterable or not all(
        d is None or (hasattr(d, "__index__") and not isinstance(d, bool)) for d in shape
    ):
        raise ConfigError(
            f"`{argument}` must be a tuple of ints or None. Received: {argument}={shape!r}"
        )
    dims = tuple(None if d is None else int(d) for d in shape)
    if any(d is not None and d <= 0 for d in dims):
        raise ConfigError(f"`{argument}` sizes must be positive. Received: {argument}={shape!r}")
    return dims


_Init = TypeVar("_Init", bound=Callable[..., None])


def keras1_names(table: dict[str, str]) -> Callable[[_Init], _Init]:
    """Renames Keras 1 arguments (`output_dim=`) to Keras 3's (`units=`) before `__init__`
    sees them, as Keras 2's `legacy_dense_support` did, so the signature stays Keras 3's."""

    def decorate(init: _Init) -> _Init:
        names = list(inspect.signature(init).parameters)[1:]  # without self

        @functools.wraps(init)
        def renamed(self: Any, *args: Any, **kwargs: Any) -> None:
            for old, new in table.items():
                if old not in kwargs:
                    continue
                layer = type(self).__name__
                warnings.warn(
                    f"{layer}: `{old}` is the Keras 1 name of `{new}`; Keras 3 accepts only `{new}=`.",
                    DeprecationWarning,
                    stacklevel=2,
                )
                if new in kwargs or (new in names and names.index(new) < len(args)):
                    raise ConfigError(f"{layer}: give `{new}` or the Keras 1 `{old}`, not both.")
                kwargs[new] = kwargs.pop(old)
            init(self, *args, **kwargs)

        return renamed  # type: ignore[return-value]

    return decorate
