"""Shapes as explain shows them, in the seeds' words `(samples, timesteps, features)`.

The shape trace and the unrolled picture both read shapes this way; this module sits
below both, so neither imports the other for it.
"""

from __future__ import annotations

from typing import Any


def shape_words(shape: Any, tokens: bool = False) -> str:
    """A shape in the seeds' words: `(None, 10, 3)` -> `(samples, timesteps=10, features=3)`.

    Unknown sizes show as `?`; `tokens=True` reads a 2-D shape as token ids per timestep.
    Five axes are frames, `(samples, timesteps, rows, cols, channels)`; four or more than
    five name only the last axis, `channels`.

    Example:
        >>> shape_words((None, 5, 8, 8, 1))
        '(samples, timesteps=5, rows=8, cols=8, channels=1)'
        >>> shape_words((None, 6, 6, 2))
        '(samples, 6, 6, channels=2)'
    """
    if shape is None:
        return "(unknown)"
    if isinstance(shape, list):
        return " + ".join(shape_words(s, tokens) for s in shape)
    dims = ["?" if d is None else str(d) for d in shape]
    if not dims:
        return "()"
    samples = "samples" if shape[0] is None else f"samples={dims[0]}"
    if len(dims) == 1:
        return f"({samples},)"
    if len(dims) == 2:
        return f"({samples}, timesteps={dims[1]})" if tokens else f"({samples}, features={dims[1]})"
    if len(dims) == 3:
        return f"({samples}, timesteps={dims[1]}, features={dims[2]})"
    if len(dims) == 5:  # frames: the CNN-LSTM's and ConvLSTM2D's input
        rows, cols = dims[2], dims[3]
        return f"({samples}, timesteps={dims[1]}, rows={rows}, cols={cols}, channels={dims[4]})"
    # (samples, rows, cols, channels) or (samples, timesteps, steps, channels): the shape
    # alone cannot tell, so only the channels are named.
    return f"({samples}, {', '.join(dims[1:-1])}, channels={dims[-1]})"


def rank(shape: Any) -> int | None:
    """The number of axes of one shape; None when it is unknown or a list of shapes."""
    return None if shape is None or isinstance(shape, list) else len(shape)
