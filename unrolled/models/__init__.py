"""Models: `Sequential`, the functional `Model`, and `Input` (Keras's `keras.models` path)."""

from unrolled.layers.input_layer import Input
from unrolled.models.functional import Model
from unrolled.models.sequential import Sequential

__all__ = ["Input", "Model", "Sequential"]
