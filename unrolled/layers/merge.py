"""Keras 2's `keras.layers.merge` path for the merge layers and their functional forms, and
Keras 1's `merge(inputs, mode=...)` function and `Merge` layer.

The layers live in `merging` (Keras 3's name); this module lets
`from keras.layers.merge import concatenate` code run with only its import changed. Keras 1's
`merge([a, b], mode="concat")` runs as its Keras 3 spelling with a DeprecationWarning, and the
module itself can be called (`from keras.layers import merge; merge([a, b], mode="sum")`
reaches the module here, as Keras 1 code expects a function).
"""

from __future__ import annotations

import sys
import types
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from unrolled.errors import ConfigError
from unrolled.layers.lambda_layer import Lambda
from unrolled.layers.merging import (
    Add,
    Average,
    Concatenate,
    Dot,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
    add,
    average,
    concatenate,
    dot,
    maximum,
    minimum,
    multiply,
    subtract,
)

__all__ = [
    "Add",
    "Average",
    "Concatenate",
    "Dot",
    "Maximum",
    "Merge",
    "Minimum",
    "Multiply",
    "Subtract",
    "add",
    "average",
    "concatenate",
    "dot",
    "maximum",
    "merge",
    "minimum",
    "multiply",
    "subtract",
]

# Keras 1's merge modes and their Keras 3 spelling, for the warning.
_SPELLINGS = {
    "sum": "keras.layers.add(inputs)",
    "mul": "keras.layers.multiply(inputs)",
    "ave": "keras.layers.average(inputs)",
    "max": "keras.layers.maximum(inputs)",
    "concat": "keras.layers.concatenate(inputs, axis=concat_axis)",
    "dot": "keras.layers.dot(inputs, axes=dot_axes)",
    "cos": "keras.layers.dot(inputs, axes=dot_axes, normalize=True)",
}


def _layer_for(mode: str, concat_axis: int, dot_axes: Any, options: dict[str, Any]) -> Any:
    if mode == "concat":
        return Concatenate(axis=concat_axis, **options)
    if mode in ("dot", "cos"):
        return Dot(axes=dot_axes, normalize=mode == "cos", **options)
    return {"sum": Add, "mul": Multiply, "ave": Average, "max": Maximum}[mode](**options)


def merge(
    inputs: Sequence[Any],
    mode: str | Callable[..., Any] = "sum",
    concat_axis: int = -1,
    dot_axes: int | Sequence[int] = -1,
    output_shape: Any = None,
    output_mask: Any = None,
    arguments: dict[str, Any] | None = None,
    node_indices: Any = None,
    tensor_indices: Any = None,
    name: str | None = None,
) -> Any:
    """Keras 1's functional merge: `merge([a, b], mode="concat", concat_axis=-1)`.

    Runs the Keras 3 layer for `mode` and warns with its spelling: `"sum"` -> `add`,
    `"mul"` -> `multiply`, `"ave"` -> `average`, `"max"` -> `maximum`, `"concat"` ->
    `concatenate(axis=concat_axis)`, `"dot"` -> `dot(axes=dot_axes)`, `"cos"` ->
    `dot(axes=dot_axes, normalize=True)`; a callable mode becomes
    `Lambda(mode, output_shape=output_shape, arguments=arguments)`.

    Raises:
        ConfigError: for another mode, fewer than two inputs, or `output_mask`,
            `node_indices`, `tensor_indices` (Keras 1 graph details with no Keras 3 meaning).

    Keras differences: `"cos"` gives `Dot(normalize=True)`'s shape, `(samples, 1)` for 2-D
    inputs, where Keras 1 added one more axis.

    Example:
        >>> import warnings
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore", DeprecationWarning)
        ...     merge([torch.ones(2, 3), torch.ones(2, 4)], mode="concat").shape
        torch.Size([2, 7])
    """
    for option, value in (
        ("output_mask", output_mask),
        ("node_indices", node_indices),
        ("tensor_indices", tensor_indices),
    ):
        if value is not None:
            raise ConfigError(
                f"merge(`{option}=`) is a Keras 1 graph detail with no Keras 3 meaning; remove it "
                "(masks follow the inputs in Keras 3)."
            )
    if not isinstance(inputs, (list, tuple)) or len(inputs) < 2:
        raise ConfigError(
            "merge() expects a list of at least 2 inputs, e.g. merge([a, b], mode='sum'); "
            f"received {type(inputs).__name__}."
        )
    if callable(mode):
        _warn(f"keras.layers.Lambda(mode, output_shape=...)(inputs) for mode={mode!r}")
        return Lambda(mode, output_shape=output_shape, arguments=arguments, name=name)(list(inputs))
    if mode not in _SPELLINGS:
        raise ConfigError(
            f"merge(mode={mode!r}) is not a Keras 1 merge mode; expected one of "
            f"{sorted(_SPELLINGS)} or a callable."
        )
    _warn(_SPELLINGS[mode])
    options = {} if name is None else {"name": name}
    return _layer_for(mode, concat_axis, dot_axes, options)(list(inputs))


class Merge:
    """Keras 1's `Merge` layer (`model.add(Merge([left, right], mode="concat"))`), removed in
    Keras 2: constructing it raises ConfigError with the functional-API replacement."""

    def __init__(self, layers: Any = None, mode: Any = "sum", **kwargs: Any) -> None:
        raise ConfigError(
            f"The Keras 1 `Merge` layer (mode={mode!r}) was removed in Keras 2 and Keras 3, and "
            "a Sequential model cannot hold branches. Use the functional API: "
            "`merged = concatenate([left_model.output, right_model.output])` (or add, multiply, "
            "average, maximum, dot for the other modes), then "
            "`Model([left_model.input, right_model.input], Dense(...)(merged))`."
        )


def _warn(spelling: str) -> None:
    # Point the warning at the user's line, whether merge() or the module itself was called.
    frame, stacklevel = sys._getframe(1), 2
    while frame is not None and frame.f_code.co_filename == __file__:
        frame, stacklevel = frame.f_back, stacklevel + 1
    warnings.warn(
        f"merge(inputs, mode=...) is Keras 1's merge function, removed in Keras 2; use {spelling}.",
        DeprecationWarning,
        stacklevel=stacklevel,
    )


class _CallableModule(types.ModuleType):
    """This module, callable as `merge(...)`: Keras 1 imported the function under the module's
    name (`from keras.layers import merge`), Keras 2 code reads the module's attributes."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return merge(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
