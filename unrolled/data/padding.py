"""`pad_sequences`: Keras's padding of variable-length sequences into one array."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from unrolled.errors import ConfigError, InputTypeError, ShapeError


def pad_sequences(
    sequences: Sequence[Any],
    maxlen: int | None = None,
    dtype: Any = "int32",
    padding: str = "pre",
    truncating: str = "pre",
    value: float = 0.0,
) -> np.ndarray:
    """Pads (or truncates) sequences to one length: Keras's function, same defaults.

    Args:
        sequences: a list of sequences; each a list of numbers, or of feature vectors.
        maxlen: the length to pad or cut to; the longest sequence's length when None.
        dtype: of the result (`int32` by default, as in Keras: pass `"float32"` for real values).
        padding: "pre" pads at the start, "post" at the end.
        truncating: "pre" drops steps from the start of long sequences, "post" from the end.
        value: the padding value.

    Shapes:
        returns `(samples, maxlen)` or `(samples, maxlen, features)`.

    Raises:
        InputTypeError: `sequences` is not a list of sequences, or holds what `dtype` cannot
            (strings, complex numbers).
        ShapeError: steps of different shapes.
        ConfigError: a bad `maxlen`, `padding`, `truncating`, `dtype` or `value`, or values
            that an integer `dtype` would truncate.

    Keras differences: Keras casts `[[0.5, 1.7]]` to the default int32 silently, giving
    `[[0, 1]]`; here values that an integer `dtype` cannot hold exactly are refused (pass
    `dtype="float32"` for real values).

    Example:
        >>> pad_sequences([[1, 2], [3]])
        array([[1, 2],
               [0, 3]], dtype=int32)
    """
    for argument, choice in (("padding", padding), ("truncating", truncating)):
        if choice not in ("pre", "post"):
            raise ConfigError(
                f"`{argument}` must be 'pre' or 'post'. Received: {argument}={choice!r}"
            )
    if maxlen is not None and (
        not isinstance(maxlen, (int, np.integer)) or isinstance(maxlen, bool) or maxlen < 0
    ):
        raise ConfigError(
            f"`maxlen` must be a non-negative integer or None. Received: maxlen={maxlen!r}"
        )
    try:
        kind = np.dtype(dtype)
    except TypeError:
        raise ConfigError(
            f"`dtype` must be a NumPy dtype such as 'int32' or 'float32'. Received: dtype={dtype!r}"
        ) from None
    is_text = np.issubdtype(kind, np.str_) or kind.kind == "O"
    arrays = [
        _sequence(s, f"sequences[{i}]", kind, is_text) for i, s in enumerate(_items(sequences))
    ]
    lengths = [len(a) for a in arrays]
    length = max(lengths, default=0) if maxlen is None else int(maxlen)
    step_shapes = {a.shape[1:] for a in arrays if len(a)}
    if len(step_shapes) > 1:
        raise ShapeError(
            "Every sequence's steps must have one shape; received step shapes "
            f"{sorted(step_shapes)} in `sequences`."
        )
    step_shape = step_shapes.pop() if step_shapes else ()
    if isinstance(value, str) and not is_text:
        raise ConfigError(
            f"`dtype` {dtype!r} cannot hold the string padding value {value!r}; use dtype=object."
        )
    if not is_text:
        _check_fits(np.asarray(value), kind, "value")
    result = np.full(
        (len(arrays), length, *step_shape), value, dtype=dtype
    )  # (samples, maxlen, ...)
    for row, array in enumerate(arrays):
        if not len(array) or length == 0:
            continue
        kept = array[-length:] if truncating == "pre" else array[:length]
        if padding == "post":
            result[row, : len(kept)] = kept
        else:
            result[row, -len(kept) :] = kept
    return result


def _items(sequences: Any) -> list[Any]:
    if isinstance(sequences, (str, bytes)) or not hasattr(sequences, "__iter__"):
        raise InputTypeError(
            "`sequences` must be a list of sequences (lists or arrays of numbers), e.g. "
            f"[[1, 2], [3]]. Received: {type(sequences).__name__}"
        )
    return list(sequences)


def _sequence(sequence: Any, name: str, kind: np.dtype, is_text: bool) -> np.ndarray:
    """One sequence as an array, refusing what `kind` cannot hold without loss."""
    try:
        array = np.asarray(sequence)
    except ValueError:
        raise ShapeError(
            f"`{name}` has steps of different sizes; every step of a sequence needs one shape."
        ) from None
    if array.ndim == 0:
        raise InputTypeError(
            f"`sequences` must be a list of sequences; {name} is a single value {sequence!r}. "
            "Wrap each sequence in a list: [[1, 2], [3]], not [1, 2, 3]."
        )
    if not is_text and array.size:
        if array.dtype.kind not in "biufc":
            raise InputTypeError(
                f"`{name}` must hold numbers for dtype={kind.name!r}; received dtype {array.dtype}. "
                "Pass dtype=object to pad strings."
            )
        _check_fits(array, kind, name)
    return array


def _check_fits(array: np.ndarray, kind: np.dtype, name: str) -> None:
    # An integer dtype silently truncates 0.5 to 0 and turns NaN into garbage.
    if array.dtype.kind == "c" and kind.kind != "c":
        raise InputTypeError(
            f"`{name}` holds complex numbers, which dtype={kind.name!r} cannot hold; pass real values."
        )
    if kind.kind in "iub" and array.dtype.kind in "fc":
        exact = np.isfinite(array) & (array == np.round(array))
        if not exact.all():
            example = np.ravel(array)[np.argmin(np.ravel(exact))]
            raise ConfigError(
                f"`{name}` holds {example.item()!r}, which `dtype`={kind.name!r} cannot hold exactly (it "
                "would be truncated to an integer). Pass dtype='float32' for real values."
            )
