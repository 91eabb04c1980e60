"""`unrolled.callbacks`: Keras's callbacks for `fit`. See `unrolled.training.callbacks`."""

from unrolled.training.callbacks import (
    Callback,
    CSVLogger,
    History,
    LambdaCallback,
    LearningRateScheduler,
    ResetStates,
    ResetStatesAt,
    TerminateOnNaN,
)
from unrolled.training.monitor import EarlyStopping, ModelCheckpoint, ReduceLROnPlateau

__all__ = [
    "CSVLogger",
    "Callback",
    "EarlyStopping",
    "History",
    "LambdaCallback",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "ReduceLROnPlateau",
    "ResetStates",
    "ResetStatesAt",
    "TerminateOnNaN",
]
