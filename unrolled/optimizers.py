"""`unrolled.optimizers`: Keras's optimizer names, so `keras.optimizers.Adam(...)` ports by
changing only the import. See `unrolled.training.optimizers`."""

from unrolled.training.optimizers import (
    SGD,
    Adadelta,
    Adagrad,
    Adam,
    Adamax,
    AdamW,
    Nadam,
    Optimizer,
    RMSprop,
    get,
)

__all__ = [
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "Adamax",
    "AdamW",
    "Nadam",
    "Optimizer",
    "RMSprop",
    "get",
]
