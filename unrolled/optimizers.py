"""`unrolled.optimizers`: Keras's optimizer names, so `keras.optimizers.Adam(...)` ports by
changing only the import. See `unrolled.training.optimizers`."""

from unrolled.training.optimizers import (
    SGD,
    Adagrad,
    Adam,
    AdamW,
    Nadam,
    Optimizer,
    RMSprop,
    get,
)

__all__ = ["SGD", "Adagrad", "Adam", "AdamW", "Nadam", "Optimizer", "RMSprop", "get"]
