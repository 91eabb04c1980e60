"""`Embedding`: integer indices to rows of a learned table (also Keras 1's `keras.layers.embeddings`)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from unrolled import constraints, initializers, regularizers
from unrolled.errors import ConfigError, InputTypeError, positive_int
from unrolled.layers.base import Layer
from unrolled.layers.parameters import add_weight
from unrolled.ops.convert import as_real_tensor


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

    Shapes:
        inputs `(samples, timesteps)` of integers (floats holding integers are accepted, as in
        Keras); output `(samples, timesteps, output_dim)`.

    Example:
        >>> Embedding(10, 4, mask_zero=True)(torch.tensor([[0, 3, 5]]))._keras_mask
        tensor([[False,  True,  True]])
    """

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
        super().__init__(**kwargs)
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

    def forward(self, inputs: Any) -> torch.Tensor:
        indices = self._indices(inputs)
        return self.embeddings[indices]  # (samples, ..., output_dim)

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
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Embedding:
        config = dict(config)
        if config.pop("quantization_config", None) is not None:
            raise ConfigError("Embedding: quantized embeddings are not supported.")
        return cls(**config)
