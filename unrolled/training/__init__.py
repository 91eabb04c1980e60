"""Training for any `torch.nn.Module`: Keras's fit/evaluate/predict, losses, metrics,
optimizers and callbacks.

This package knows `torch.nn.Module`, not unrolled's layer classes, so it trains plain
PyTorch models as well; `unrolled.models` builds `Model.fit` on `Trainer`.
"""

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
from unrolled.training.engine import NonFiniteLossError, Trainer
from unrolled.training.monitor import EarlyStopping, ModelCheckpoint, ReduceLROnPlateau

__all__ = [
    "CSVLogger",
    "Callback",
    "EarlyStopping",
    "History",
    "LambdaCallback",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "NonFiniteLossError",
    "ReduceLROnPlateau",
    "ResetStates",
    "ResetStatesAt",
    "TerminateOnNaN",
    "Trainer",
]
