"""Checks and small rules for `Trainer`'s arguments, shared by fit and the evaluation calls."""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from unrolled.errors import ConfigError, positive_int
from unrolled.training import data as data_module
from unrolled.training import losses as losses_module
from unrolled.training import metrics as metrics_module

DEFAULT_BATCH_SIZE = 32


def check_fit_options(validation_split: Any, reset_states: Any, shuffle: Any) -> None:
    """Raises ConfigError for a `validation_split`, `reset_states` or `shuffle` fit cannot take."""
    if not isinstance(validation_split, numbers.Real) or not 0.0 <= validation_split < 1.0:
        raise ConfigError(
            f"`validation_split` must be in [0, 1). Received: validation_split={validation_split}"
        )
    if reset_states not in (None, False, "epoch"):
        raise ConfigError(
            f"`reset_states` must be None or 'epoch'. Received: reset_states={reset_states!r}"
        )
    if shuffle not in (True, False, "batch"):
        raise ConfigError(
            f"`shuffle` must be True, False or 'batch'. Received: shuffle={shuffle!r}"
        )


def stop_attribute(module: torch.nn.Module) -> Callable[[], bool]:
    # A plain module has no `stop_training` until a callback sets it; read __dict__ to avoid
    # nn.Module.__getattr__'s exception path on every batch.
    if hasattr(type(module), "stop_training"):
        return lambda: bool(module.stop_training)
    state = vars(module)
    return lambda: bool(state.get("stop_training", False))


def loader_length(loader: Any) -> int | None:
    try:
        return len(loader)
    except TypeError:
        return None


def check_counts(**counts: Any) -> None:
    # batch_size=0 or -1 would otherwise mean 32 or no batches at all, silently.
    for name, value in counts.items():
        if value is not None:
            positive_int(value, name)


def should_validate(epoch: int, validation_freq: int | list[int]) -> bool:
    if isinstance(validation_freq, (int, np.integer)) and not isinstance(validation_freq, bool):
        return (epoch + 1) % positive_int(validation_freq, "validation_freq") == 0
    if isinstance(validation_freq, (list, tuple)):
        return epoch + 1 in validation_freq
    raise ConfigError(
        f"`validation_freq` must be an int or a list of epochs. Received: {validation_freq!r}"
    )


def legacy_epochs(epochs: int, legacy: dict[str, Any]) -> int:
    if "nb_epoch" in legacy:
        warnings.warn(
            "fit(): `nb_epoch` is deprecated; use `epochs`.", DeprecationWarning, stacklevel=3
        )
        epochs = legacy.pop("nb_epoch")
    if legacy:
        raise ConfigError(f"fit() got unexpected argument(s): {sorted(legacy)}")
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ConfigError(f"`epochs` must be a non-negative integer. Received: epochs={epochs!r}")
    return int(epochs)


def check_specs(loss: Any, metrics: Any, weighted_metrics: Any) -> None:
    # Unknown names fail at compile time, before any data is seen.
    for spec in data_module.flatten(loss) if isinstance(loss, (list, tuple, dict)) else [loss]:
        if spec is not None and not (
            isinstance(spec, str) and spec.lower() in ("crossentropy", "ce")
        ):
            losses_module.get(spec)
    for group in (metrics, weighted_metrics):
        for spec in (
            data_module.flatten(group) if isinstance(group, (list, tuple, dict)) else [group]
        ):
            if isinstance(spec, str) and spec.lower() not in ("accuracy", "acc"):
                metrics_module.get(spec)
            elif not (spec is None or isinstance(spec, str) or callable(spec)):
                metrics_module.get(spec)  # raises: not a name, Metric or function
