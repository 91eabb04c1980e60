"""Keras's `keras.preprocessing.sequence` import path."""

from unrolled.data.padding import pad_sequences

__all__ = ["pad_sequences"]
