"""Keras 3's optimizer defaults, declared once.

The settings objects (`optimizers.Adam()`), the torch update rules (`update_rules.AdamRule`)
and the compiled fit kernel read them here, so the three cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

KERAS_EPSILON = 1e-7  # keras.backend.epsilon(), also what Keras 2's `epsilon=None` meant


@dataclass(frozen=True)
class SGDDefaults:
    learning_rate: float = 0.01
    momentum: float = 0.0
    nesterov: bool = False


@dataclass(frozen=True)
class AdamDefaults:
    learning_rate: float = 0.001
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = KERAS_EPSILON
    amsgrad: bool = False


@dataclass(frozen=True)
class AdamWDefaults(AdamDefaults):
    weight_decay: float = 0.004


@dataclass(frozen=True)
class RMSpropDefaults:
    learning_rate: float = 0.001
    rho: float = 0.9
    momentum: float = 0.0
    epsilon: float = KERAS_EPSILON
    centered: bool = False


@dataclass(frozen=True)
class AdagradDefaults:
    learning_rate: float = 0.001
    initial_accumulator_value: float = 0.1
    epsilon: float = KERAS_EPSILON


@dataclass(frozen=True)
class NadamDefaults:
    learning_rate: float = 0.001
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = KERAS_EPSILON


SGD = SGDDefaults()
ADAM = AdamDefaults()
ADAMW = AdamWDefaults()
RMSPROP = RMSpropDefaults()
ADAGRAD = AdagradDefaults()
NADAM = NadamDefaults()
