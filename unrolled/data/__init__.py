"""Data preparation: padding (and, later, windows, scaling and stateful batches)."""

from unrolled.data.padding import pad_sequences

__all__ = ["pad_sequences"]
