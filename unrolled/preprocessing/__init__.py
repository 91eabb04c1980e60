"""Keras's `keras.preprocessing` import paths (`text` only says what to use instead)."""

from unrolled.preprocessing import sequence, text

__all__ = ["sequence", "text"]
