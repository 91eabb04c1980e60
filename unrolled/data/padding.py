"""`pad_sequences`: Keras's padding of variable-length sequences into one array."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from unrolled.errors import ConfigError, ShapeError


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
    arrays = [np.asarray(s) for s in sequences]
    lengths = [len(a) for a in arrays]
    length = max(lengths, default=0) if maxlen is None else int(maxlen)
    step_shapes = {a.shape[1:] for a in arrays if len(a)}
    if len(step_shapes) > 1:
        raise ShapeError(
            f"Every sequence's steps must have one shape; received step shapes {sorted(step_shapes)}."
        )
    step_shape = step_shapes.pop() if step_shapes else ()
    is_text = np.issubdtype(np.dtype(dtype), np.str_) or np.dtype(dtype) == object
    if isinstance(value, str) and not is_text:
        raise ConfigError(
            f"`dtype` {dtype!r} cannot hold the string padding value {value!r}; use dtype=object."
        )
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
