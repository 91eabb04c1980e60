"""`Embedding`: integer indices to rows of a learned table (also Keras 1's `keras.layers.embeddings`)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from unrolled import constraints, initializers, regularizers
from unrolled.compat import keras1_names
from unrolled.errors import ConfigError, InputTypeError, positive_int
from unrolled.layers.base import Layer
from unrolled.layers.parameters import add_weight
from unrolled.ops.convert import as_real_tensor

# Keras 1's argument names (keras/layers/embeddings.py of Keras 1.2).
KERAS1_NAMES = {
    "init": "embeddings_initializer",
    "W_regularizer": "embeddings_regularizer",
    "W_constraint": "embeddings_constraint",
}


class Embedding(Layer):
    """Looks up row `i` of `embeddings (input_dim, output_dim)` for each index `i`.

    Args:
        input_dim: the vocabulary size; indices must lie in `[0, input_dim)`.
        output_dim: the size of each vector.
        embeddings_initializer: Keras's default 'uniform' (±0.05).
        mask_zero: index 0 is padding: the output carries the mask `indices != 0`, so the
            recurrent layers after it skip those steps.
        weights: a one-item list with the initial table (Keras 2's argument).
        input_length: Keras 2's length of the sequences (a DeprecationWarning; it becomes an
            `input_shape=(input_length,)` hint).
        dropout: Keras 1's argument (a DeprecationWarning; Keras 2 and 3 refuse it): in
            training, each row of the table (each word of the vocabulary) is dropped with this
            probability for the whole batch, wherever it occurs, and the kept rows are scaled by
            `1 / (1 - dropout)`, as Keras 1 did. Keras 3 code puts `SpatialDropout1D(rate)`
            after the Embedding (drops whole vectors per position) or `Dropout(rate)` (single
            values) instead; neither drops a word everywhere in the batch.
        init, W_regularizer, W_constraint: Keras 1's names of `embeddings_initializer`,
            `embeddings_regularizer`, `embeddings_constraint` (a DeprecationWarning).

    Shapes:
        inputs `(samples, timesteps)` of integers (floats holding integers are accepted, as in
        Keras); output `(samples, timesteps, output_dim)`.

    Example:
        >>> Embedding(10, 4, mask_zero=True)(torch.tensor([[0, 3, 5]]))._keras_mask
        tensor([[False,  True,  True]])
    """

    @keras1_names(KERAS1_NAMES)
    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        embeddings_initializer: Any = "uniform",
        embeddings_regularizer: Any = None,
        embeddings_constraint: Any = None,
        mask_zero: bool = False,
        weights: Sequence[Any] | None = None,
        **kwargs: Any,
    ) -> None:
        input_length = kwargs.pop("input_length", None)
        if input_length is not None:
            warnings.warn(
                f"Embedding: `input_length` was removed in Keras 3; use `input_shape=({input_length},)` "
                "or `Input((timesteps,))`.",
                DeprecationWarning,
                stacklevel=2,
            )
            kwargs.setdefault("input_shape", (input_length,))
        dropout = kwargs.pop("dropout", 0.0)
        if dropout:
            warnings.warn(
                "Embedding: `dropout` is Keras 1's (Keras 2 and 3 refuse it); it drops whole words "
                "of the vocabulary in training. In Keras 3 code, put SpatialDropout1D(rate) after "
                "the Embedding (whole vectors per position) or Dropout(rate).",
                DeprecationWarning,
                stacklevel=3,
            )
        super().__init__(**kwargs)
        self.dropout = _rate(dropout)
        self.input_dim = positive_int(input_dim, "input_dim")
        self.output_dim = positive_int(output_dim, "output_dim")
        initializers.get(embeddings_initializer, "embeddings_initializer")
        self.embeddings_initializer = embeddings_initializer
        self.embeddings_regularizer = regularizers.get(
            embeddings_regularizer, "embeddings_regularizer"
        )
        self.embeddings_constraint = constraints.get(embeddings_constraint, "embeddings_constraint")
        self.mask_zero = bool(mask_zero)
        self.supports_masking = self.mask_zero
        self.embeddings: nn.Parameter
        self.build()  # the table's shape does not depend on the input
        if weights is not None:
            self.set_weights(weights)

    @property
    def weights(self) -> list[nn.Parameter]:
        return [self.embeddings]

    def build(self, input_shape: Any = None) -> None:
        if not self.built:
            add_weight(
                self,
                "embeddings",
                (self.input_dim, self.output_dim),
                self.embeddings_initializer,
                "embeddings_initializer",
            )
            self.built = True
            self._apply_trainable()

    def forward(self, inputs: Any, training: bool | None = None) -> torch.Tensor:
        indices = self._indices(inputs)
        vectors = self.embeddings[indices]  # (samples, ..., output_dim)
        training = self.training if training is None else bool(training)
        if training and self.dropout:
            # Keras 1: one draw per row of the table, so a dropped word is zero everywhere.
            keep = 1.0 - self.dropout
            rows = torch.bernoulli(
                torch.full((self.input_dim,), keep, device=vectors.device, dtype=vectors.dtype)
            )
            vectors = vectors * (rows / keep)[indices].unsqueeze(-1)
        return vectors

    def compute_mask(self, inputs: Any, mask: Any = None) -> torch.Tensor | None:
        """`indices != 0` with `mask_zero=True`, otherwise no mask."""
        if not self.mask_zero:
            return None
        return as_real_tensor(inputs, "inputs").to(self.embeddings.device) != 0

    def compute_output_shape(self, input_shape: Any) -> tuple[int | None, ...]:
        return (*tuple(input_shape), self.output_dim)

    def _indices(self, inputs: Any) -> torch.Tensor:
        x = as_real_tensor(inputs, "inputs")
        if x.is_floating_point():
            fractional = x[x != torch.round(x)]
            if fractional.numel():
                raise InputTypeError(
                    f"{self.name} expected integer indices in [0, {self.input_dim}) as `inputs`; received values "
                    f"such as {fractional.flatten()[0].item():g}."
                )
        x = x.to(device=self.embeddings.device, dtype=torch.int64)
        if x.numel():
            low, high = int(x.min()), int(x.max())
            if low < 0 or high >= self.input_dim:
                raise ConfigError(
                    f"{self.name} expected indices in [0, {self.input_dim}) (input_dim={self.input_dim}); "
                    f"`inputs` holds indices from {low} to {high}. Raise input_dim or re-index the vocabulary."
                )
        return x

    def _build_from_weights(self, weights: Sequence[Any]) -> None:
        self.build()

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": self.embeddings_initializer,
            "embeddings_regularizer": self.embeddings_regularizer,
            "embeddings_constraint": self.embeddings_constraint,
            "mask_zero": self.mask_zero,
            "quantization_config": None,
            **({"dropout": self.dropout} if self.dropout else {}),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Embedding:
        config = dict(config)
        if config.pop("quantization_config", None) is not None:
            raise ConfigError("Embedding: quantized embeddings are not supported.")
        dropout = config.pop("dropout", 0.0)  # ours, saved only when set: no warning on load
        layer = cls(**config)
        layer.dropout = _rate(dropout)
        return layer


def _rate(value: Any) -> float:
    rate = float(value)
    if not 0.0 <= rate < 1.0:
        raise ConfigError(f"Embedding: `dropout` must be in [0, 1); received {value!r}.")
    return rate
