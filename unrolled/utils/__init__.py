"""Keras's `keras.utils` helpers that the tutorials use."""

from unrolled.data.padding import pad_sequences
from unrolled.utils.categorical import to_categorical
from unrolled.utils.seeding import set_random_seed

__all__ = ["pad_sequences", "set_random_seed", "to_categorical"]
