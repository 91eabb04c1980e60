"""Keras 3's optimizer defaults, declared once, one record per optimizer.

The settings objects (`optimizers.Adam()`), the update rules (`update_rules.AdamRule`,
whose options are its record's fields) and the compiled fit kernel all read them here.
"""

from __future__ import annotations

from dataclasses import dataclass

KERAS_EPSILON = 1e-7  # keras.backend.epsilon(), also what Keras 2's `epsilon=None` meant


@dataclass(frozen=True)
class SGD:
    learning_rate: float = 0.01
    momentum: float = 0.0
    nesterov: bool = False


@dataclass(frozen=True)
class Adam:
    learning_rate: float = 0.001
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = KERAS_EPSILON
    amsgrad: bool = False


@dataclass(frozen=True)
class AdamW(Adam):
    weight_decay: float = 0.004


@dataclass(frozen=True)
class RMSprop:
    learning_rate: float = 0.001
    rho: float = 0.9
    momentum: float = 0.0
    epsilon: float = KERAS_EPSILON
    centered: bool = False


@dataclass(frozen=True)
class Adagrad:
    learning_rate: float = 0.001
    initial_accumulator_value: float = 0.1
    epsilon: float = KERAS_EPSILON


@dataclass(frozen=True)
class Nadam:
    learning_rate: float = 0.001
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = KERAS_EPSILON


@dataclass(frozen=True)
class Adadelta:
    learning_rate: float = 0.001
    rho: float = 0.95
    epsilon: float = KERAS_EPSILON


@dataclass(frozen=True)
class Adamax:
    learning_rate: float = 0.001
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = KERAS_EPSILON
