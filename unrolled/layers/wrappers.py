"""Keras 2's `keras.layers.wrappers` path: `TimeDistributed` and `Bidirectional`.

Each lives in its own module; this one lets `keras.layers.wrappers.TimeDistributed(...)`
code run with only its import changed.
"""

from unrolled.layers.bidirectional import Bidirectional
from unrolled.layers.time_distributed import TimeDistributed

__all__ = ["Bidirectional", "TimeDistributed"]
