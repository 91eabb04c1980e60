"""Keras 2's `keras.layers.merge` path for the merge layers and their functional forms.

The layers live in `merging` (Keras 3's name); this one lets
`from keras.layers.merge import concatenate` code run with only its import changed.
"""

from unrolled.layers.merging import (
    Add,
    Average,
    Concatenate,
    Multiply,
    Subtract,
    add,
    average,
    concatenate,
    multiply,
    subtract,
)

__all__ = [
    "Add",
    "Average",
    "Concatenate",
    "Multiply",
    "Subtract",
    "add",
    "average",
    "concatenate",
    "multiply",
    "subtract",
]
