"""`to_categorical`: integer class labels to one-hot rows."""

from __future__ import annotations

from typing import Any

import numpy as np

from unrolled.errors import ConfigError


def to_categorical(x: Any, num_classes: int | None = None) -> np.ndarray:
    """One-hot encodes integer labels along a new last axis (Keras's function, float32 result).

    Example:
        >>> to_categorical([0, 2], num_classes=3)
        array([[1., 0., 0.],
               [0., 0., 1.]], dtype=float32)
    """
    labels = np.asarray(x)
    if labels.dtype.kind == "f" and np.any(labels != np.round(labels)):
        raise ConfigError("to_categorical needs integer class labels; received non-integer values.")
    labels = labels.astype(np.int64)
    if labels.ndim > 1 and labels.shape[-1] == 1:
        labels = labels[..., 0]  # Keras drops a trailing axis of size one
    if labels.size and labels.min() < 0:
        raise ConfigError(f"to_categorical needs labels >= 0; received {labels.min()}.")
    classes = int(labels.max()) + 1 if num_classes is None else int(num_classes)
    if labels.size and labels.max() >= classes:
        raise ConfigError(f"Label {labels.max()} does not fit num_classes={classes}.")
    return np.eye(classes, dtype=np.float32)[labels]
