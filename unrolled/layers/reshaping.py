"""`Flatten`, `Reshape`, `RepeatVector` and `Permute`: per-sample reshapes that keep the samples axis."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from unrolled.errors import ConfigError, InputTypeError, ShapeError, shape_str
from unrolled.layers.base import Layer
from unrolled.layers.coerce import as_input, check_rank


class Flatten(Layer):
    """Flattens every axis after the samples axis into one.

    Args:
        data_format: "channels_last" (default) or "channels_first"; with channels first the
            channels axis is moved last before flattening, as Keras does.

    Shapes:
        inputs `(samples, ...)`; output `(samples, product of the other sizes)`.
        Does not support masking: a mask arriving here warns and stops.

    Example:
        >>> Flatten()(torch.zeros(2, 3, 4)).shape
        torch.Size([2, 12])
    """

    _config_options = ("data_format",)

    def __init__(self, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        data_format = "channels_last" if data_format is None else str(data_format).lower()
        if data_format not in ("channels_last", "channels_first"):
            raise ConfigError(
                "Argument `data_format` must be 'channels_last' or 'channels_first'. "
                f"Received: data_format={data_format!r}"
            )
        self.data_format = data_format
        self.build_from_hint()

    def forward(self, inputs: Any) -> torch.Tensor:
        x = as_input(inputs)
        check_rank(x, self.name, 1, "(samples, ...)")
        if self.data_format == "channels_first" and x.dim() > 2:
            x = x.movedim(1, -1)  # (samples, ..., channels)
        # The size is spelled out: -1 is ambiguous for a batch of 0 samples.
        return x.reshape(x.shape[0], math.prod(x.shape[1:]))  # (samples, flattened)

    def compute_output_shape(self, input_shape: Any) -> tuple[int | None, ...]:
        rest = tuple(input_shape)[1:]
        size = None if any(d is None for d in rest) else math.prod(rest)
        return (input_shape[0], size)


class Reshape(Layer):
    """Reshapes each sample to `target_shape`; one entry may be -1 (inferred).

    Shapes:
        inputs `(samples, ...)`; output `(samples, *target_shape)`.

    Raises:
        ShapeError: when a sample's size does not fit `target_shape`.

    Example:
        >>> Reshape((3, 4))(torch.zeros(2, 12)).shape
        torch.Size([2, 3, 4])
        >>> Reshape((-1, 1))(torch.zeros(2, 12)).shape
        torch.Size([2, 12, 1])
    """

    _config_options = ("target_shape",)

    def __init__(self, target_shape: Sequence[int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target_shape = _target_shape(target_shape)
        self.build_from_hint()

    def forward(self, inputs: Any) -> torch.Tensor:
        x = as_input(inputs)
        check_rank(x, self.name, 1, "(samples, ...)")
        per_sample = self._resolve(tuple(x.shape[1:]))
        return x.reshape(x.shape[0], *per_sample)  # (samples, *target_shape)

    def compute_output_shape(self, input_shape: Any) -> tuple[int | None, ...]:
        rest = tuple(input_shape)[1:]
        if any(d is None for d in rest):
            return (input_shape[0], *(None if d == -1 else d for d in self.target_shape))
        return (input_shape[0], *self._resolve(rest))

    def _resolve(self, sample_shape: tuple[int, ...]) -> tuple[int, ...]:
        # The -1 entry, if any, takes whatever size is left (Keras's rule).
        size = math.prod(sample_shape)
        known = math.prod(d for d in self.target_shape if d != -1)
        if -1 not in self.target_shape:
            fits = known == size
        else:
            fits = known != 0 and size % known == 0
        if not fits:
            raise ShapeError(
                f"{self.name}: cannot reshape samples of shape {shape_str(sample_shape)} "
                f"({size} values) to target_shape={self.target_shape} "
                f"({'a multiple of ' if -1 in self.target_shape else ''}{known} values expected)."
            )
        return tuple(size // known if d == -1 else d for d in self.target_shape)


class RepeatVector(Layer):
    """Repeats each sample's vector `n` times along a new timesteps axis.

    The usual bridge from an encoder's last output to a decoder that needs a sequence.

    Shapes:
        inputs `(samples, features)`; output `(samples, n, features)`.

    Example:
        >>> RepeatVector(3)(torch.zeros(2, 4)).shape
        torch.Size([2, 3, 4])
    """

    _config_options = ("n",)

    def __init__(self, n: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(n, bool) or not isinstance(n, int) and not hasattr(n, "__index__"):
            raise InputTypeError(f"RepeatVector expects an integer `n`; received {n!r}.")
        if int(n) <= 0:
            raise ConfigError(f"Argument `n` should be a positive integer. Received: n={n}")
        self.n = int(n)
        self.build_from_hint()

    def forward(self, inputs: Any) -> torch.Tensor:
        x = as_input(inputs)
        self._check_rank(tuple(x.shape))
        return x.unsqueeze(1).repeat(1, self.n, 1)  # (samples, n, features)

    def compute_output_shape(self, input_shape: Any) -> tuple[int | None, ...]:
        self._check_rank(tuple(input_shape))
        return (input_shape[0], self.n, input_shape[1])

    def _check_rank(self, shape: tuple[int | None, ...]) -> None:
        if len(shape) != 2:
            hint = (
                " To repeat the last output of a recurrent layer, give it return_sequences=False."
                if len(shape) == 3
                else ""
            )
            raise ShapeError(
                f"{self.name} expects inputs of shape (samples, features); received a "
                f"{len(shape)}-D input of shape {shape_str(shape)}.{hint}"
            )


class Permute(Layer):
    """Reorders the axes after the samples axis by the pattern `dims` (counted from 1).

    Args:
        dims: a permutation of `1 .. rank - 1`, e.g. `(2, 1)` swaps timesteps and features.

    Shapes:
        inputs `(samples, d1, ..., dn)`; output `(samples, d[dims[0]], ..., d[dims[-1]])`.
        Does not support masking (as in Keras): a mask arriving here warns and stops.

    Example:
        >>> Permute((2, 1))(torch.zeros(2, 10, 64)).shape
        torch.Size([2, 64, 10])
    """

    _config_options = ("dims",)

    def __init__(self, dims: Sequence[int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        try:
            pattern = tuple(dims)
        except TypeError:
            pattern = None
        if pattern is None or any(
            isinstance(d, bool) or not hasattr(d, "__index__") for d in pattern
        ):
            raise ConfigError(
                f"Argument `dims` of Permute must be a tuple of integers. Received: dims={dims!r}"
            )
        pattern = tuple(int(d) for d in pattern)
        if sorted(pattern) != list(range(1, len(pattern) + 1)):
            raise ConfigError(
                "Invalid permutation argument `dims` for Permute Layer. The set of indices in "
                f"`dims` must be consecutive and start from 1. Received dims={dims!r}"
            )
        self.dims = pattern
        self.build_from_hint()

    def forward(self, inputs: Any) -> torch.Tensor:
        x = as_input(inputs)
        self._check_rank(tuple(x.shape))
        return x.permute(0, *self.dims)  # (samples, permuted axes)

    def compute_output_shape(self, input_shape: Any) -> tuple[int | None, ...]:
        shape = tuple(input_shape)
        self._check_rank(shape)
        return (shape[0], *(shape[d] for d in self.dims))

    def _check_rank(self, shape: tuple[int | None, ...]) -> None:
        if len(shape) != len(self.dims) + 1:
            raise ShapeError(
                f"{self.name} with dims={self.dims} expects inputs with {len(self.dims) + 1} axes "
                f"(samples and {len(self.dims)} more); received a {len(shape)}-D input of shape "
                f"{shape_str(shape)}."
            )


def _target_shape(value: Any) -> tuple[int, ...]:
    message = (
        "Each entry of `target_shape` must be a positive integer, or -1 for one inferred "
        f"size. Received: target_shape={value!r}"
    )
    try:
        dims = tuple(value)
    except TypeError:
        raise ConfigError(message) from None
    if any(isinstance(d, bool) or not hasattr(d, "__index__") for d in dims):
        raise ConfigError(message)
    dims = tuple(int(d) for d in dims)
    if any(d < -1 or d == 0 for d in dims):
        raise ConfigError(message)
    if dims.count(-1) > 1:
        raise ConfigError(
            f"`target_shape` may have at most one -1 (inferred size). Received: target_shape={value!r}"
        )
    return dims
