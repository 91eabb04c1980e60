"""`Layer`: a `torch.nn.Module` with Keras's build, naming and weight methods."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from unrolled import compat
from unrolled.errors import ConfigError, ShapeError, shape_str

_NAME_COUNTS: Counter[str] = Counter()


def _auto_name(cls: type) -> str:
    # Keras names layers `lstm`, `lstm_1`, `lstm_2`, ... per class.
    base = re.sub(r"(?<!^)(?=[A-Z][a-z])", "_", cls.__name__).lower()
    count = _NAME_COUNTS[base]
    _NAME_COUNTS[base] += 1
    return base if count == 0 else f"{base}_{count}"


class Layer(nn.Module):
    """Base of our layers: Keras's `build`, `name`, `trainable` and weight lists on an `nn.Module`.

    Weights are created by `build(input_shape)`: at construction when `input_shape=`
    (or `batch_input_shape=`) is given, otherwise on the first call.
    """

    def __init__(
        self,
        *,
        name: str | None = None,
        trainable: bool = True,
        dtype: Any = None,
        activity_regularizer: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        self.name = name or _auto_name(type(self))
        self.batch_shape = compat.pop_batch_shape(kwargs, type(self).__name__)
        # Weights are float32 unless the module is cast with .to()/.double(); `dtype` is kept
        # for the config only.
        self.dtype_name = "float32" if dtype is None else str(dtype)
        self.activity_regularizer = activity_regularizer  # stored for the training loop
        if kwargs:
            raise ConfigError(
                f"Unrecognized keyword arguments passed to {type(self).__name__}: {kwargs}"
            )
        self.built = False
        self._trainable = trainable

    # -- building ---------------------------------------------------------------------------
    def build(self, input_shape: Sequence[int | None]) -> None:
        """Creates the weights for inputs of `input_shape` (samples axis included)."""
        self.built = True

    def _apply_trainable(self) -> None:
        for parameter in self.parameters():
            parameter.requires_grad_(self._trainable)

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        self._apply_trainable()

    # -- weights ------------------------------------------------------------------------------
    @property
    def weights(self) -> list[nn.Parameter]:
        """The parameters in Keras's `get_weights()` order."""
        return list(self.parameters())

    def get_weights(self) -> list[np.ndarray]:
        """The weights as NumPy arrays, in Keras's order and layout."""
        return [w.detach().cpu().numpy().copy() for w in self.weights]

    def set_weights(self, weights: Sequence[Any]) -> None:
        """Copies arrays into the weights, checking count and shapes first (all or nothing)."""
        if not self.built:
            self._build_from_weights(weights)
        current = self.weights
        if len(weights) != len(current):
            raise ShapeError(
                f"{self.name}: set_weights expected {len(current)} arrays "
                f"({', '.join(shape_str(w.shape) for w in current)}); received {len(weights)}."
            )
        values = [torch.as_tensor(np.asarray(value)) for value in weights]
        for index, (value, target) in enumerate(zip(values, current)):
            if tuple(value.shape) != tuple(target.shape):
                raise ShapeError(
                    f"{self.name}: weight {index} must have shape {shape_str(target.shape)}; "
                    f"received {shape_str(value.shape)}."
                )
        with torch.no_grad():
            for value, target in zip(values, current):
                target.copy_(value.to(device=target.device, dtype=target.dtype))

    def _build_from_weights(self, weights: Sequence[Any]) -> None:
        raise ConfigError(
            f"{self.name} has no weights yet: call it on data or call build(input_shape) before set_weights."
        )

    def count_params(self) -> int:
        """Number of scalars in all weights, trainable or not (Keras's count)."""
        if not self.built:
            raise ConfigError(f"{self.name} is not built yet, so it has no parameters to count.")
        return sum(w.numel() for w in self.weights)

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": self.dtype_name,
            "activity_regularizer": self.activity_regularizer,
        }
        if self.batch_shape is not None:
            config["batch_shape"] = self.batch_shape
        return config
