"""Keras's `keras.preprocessing` import paths."""

from unrolled.preprocessing import sequence

__all__ = ["sequence"]
