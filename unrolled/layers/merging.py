"""Merge layers for models with several branches: `Concatenate`, `Add`, `Subtract`, `Multiply`, `Average`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from unrolled.errors import ConfigError, ShapeError, shape_str
from unrolled.layers import symbolic
from unrolled.layers.base import Layer, get_mask
from unrolled.layers.coerce import as_input

Shape = tuple[int | None, ...]


class Merge(Layer):
    """Base of the element-wise merges: inputs of one shape (or broadcastable) in a list.

    Inputs of lower rank get size-1 axes after the samples axis until the ranks match,
    then broadcast, as in Keras. A mask on the inputs gives the output the logical OR of
    the masks when every input has one, else no mask (Keras's rule).
    """

    supports_masking = True
    minimum_inputs = 1

    def forward(self, inputs: Sequence[Any]) -> torch.Tensor:
        tensors = self._tensors(inputs)
        rank = max(t.dim() for t in tensors)
        expanded = [_expand_to(t, rank) for t in tensors]
        self._check_shapes([tuple(t.shape) for t in expanded])
        return self._merge(expanded, [get_mask(x) for x in inputs])

    def _merge(self, tensors: list[torch.Tensor], masks: list[Any]) -> torch.Tensor:
        raise NotImplementedError

    def _tensors(self, inputs: Any) -> list[torch.Tensor]:
        if not isinstance(inputs, (list, tuple)):
            raise ShapeError(
                f"{self.name} expects a list of inputs, e.g. {type(self).__name__}()([a, b]); "
                f"received {type(inputs).__name__}."
            )
        if len(inputs) < self.minimum_inputs:
            raise ShapeError(
                f"{self.name} expects at least {self.minimum_inputs} inputs; received {len(inputs)}."
            )
        return [as_input(x) for x in inputs]

    def build(self, input_shape: Any) -> None:
        shapes = self._shapes(input_shape)
        rank = max(len(s) for s in shapes)
        self._check_shapes([_expand_shape(s, rank) for s in shapes])
        self.built = True

    def compute_output_shape(self, input_shape: Any) -> Shape:
        shapes = self._shapes(input_shape)
        rank = max(len(s) for s in shapes)
        return self._check_shapes([_expand_shape(s, rank) for s in shapes])

    def _shapes(self, input_shape: Any) -> list[Shape]:
        if symbolic.is_shape(input_shape) or len(input_shape) < self.minimum_inputs:
            raise ShapeError(
                f"{self.name} expects a list of at least {self.minimum_inputs} inputs; received "
                f"input shape {input_shape}."
            )
        return [tuple(s) for s in input_shape]

    def _check_shapes(self, shapes: list[Shape]) -> Shape:
        """The broadcast shape of same-rank `shapes`; raises ShapeError where they clash."""
        result: list[int | None] = []
        for axis, sizes in enumerate(zip(*shapes)):
            known = {d for d in sizes if d is not None and (d != 1 or axis == 0)}
            if len(known) > 1:
                raise ShapeError(
                    f"{self.name} expected inputs of one shape (size-1 axes broadcast); received "
                    f"shapes {', '.join(shape_str(s) for s in shapes)}."
                )
            if known:
                result.append(known.pop())
            elif None in sizes:
                result.append(None)
            else:
                result.append(1)
        return tuple(result)

    def compute_mask(self, inputs: Any, mask: Any = None) -> torch.Tensor | None:
        masks = _input_masks(inputs, mask)
        if masks is None or any(m is None for m in masks):
            return None
        result = masks[0].bool()
        for m in masks[1:]:
            result = result | m.bool()
        return result


class Add(Merge):
    """Sums the inputs element-wise.

    Example:
        >>> Add()([torch.ones(2, 3), torch.ones(2, 3)]).shape
        torch.Size([2, 3])
    """

    def _merge(self, tensors: list[torch.Tensor], masks: list[Any]) -> torch.Tensor:
        result = tensors[0]
        for t in tensors[1:]:
            result = result + t
        return result


class Subtract(Merge):
    """`inputs[0] - inputs[1]`, element-wise; exactly two inputs."""

    minimum_inputs = 2

    def _tensors(self, inputs: Any) -> list[torch.Tensor]:
        tensors = super()._tensors(inputs)
        if len(tensors) != 2:
            raise ShapeError(f"{self.name} expects exactly 2 inputs; received {len(tensors)}.")
        return tensors

    def _merge(self, tensors: list[torch.Tensor], masks: list[Any]) -> torch.Tensor:
        return tensors[0] - tensors[1]


class Multiply(Merge):
    """Multiplies the inputs element-wise.

    Masked entries count as 1 in the product; when every input has a mask, entries masked
    in all of them are 0 (Keras's rule).
    """

    def _merge(self, tensors: list[torch.Tensor], masks: list[Any]) -> torch.Tensor:
        every_input_masked = all(m is not None for m in masks)
        factors: list[torch.Tensor] = []
        union: torch.Tensor | None = None
        for x, m in zip(tensors, masks):
            if m is not None:
                m = m.bool().unsqueeze(-1).expand(x.shape)  # (samples, ..., features)
                x = torch.where(m, x, torch.ones_like(x))
                if every_input_masked:
                    union = m if union is None else union | m
            factors.append(x)
        result = factors[0]
        for x in factors[1:]:
            result = result * x
        if union is not None:
            result = torch.where(union, result, torch.zeros_like(result))
        return result


class Average(Merge):
    """Averages the inputs element-wise."""

    def _merge(self, tensors: list[torch.Tensor], masks: list[Any]) -> torch.Tensor:
        result = tensors[0]
        for t in tensors[1:]:
            result = result + t
        return result / len(tensors)


class Concatenate(Layer):
    """Joins the inputs along `axis` (the last one by default).

    Args:
        axis: the axis to join on; every other axis must agree in size.

    Shapes:
        inputs `[(samples, ..., a), (samples, ..., b)]`; output `(samples, ..., a + b)` for
        `axis=-1`. Masks: where some inputs carry a mask, the output's mask is Keras's: the
        masks (all-True for inputs without one) joined and reduced with `any` over the last axis.

    Example:
        >>> Concatenate()([torch.zeros(2, 3), torch.zeros(2, 4)]).shape
        torch.Size([2, 7])
    """

    supports_masking = True

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ConfigError(f"Argument `axis` must be an integer. Received: axis={axis!r}")
        self.axis = axis

    def forward(self, inputs: Sequence[Any]) -> torch.Tensor:
        if not isinstance(inputs, (list, tuple)) or not inputs:
            raise ShapeError(
                f"{self.name} expects a list of inputs, e.g. Concatenate()([a, b]); received "
                f"{type(inputs).__name__}."
            )
        tensors = [as_input(x) for x in inputs]
        self.compute_output_shape([tuple(t.shape) for t in tensors])
        return torch.cat(tensors, dim=self.axis)

    def build(self, input_shape: Any) -> None:
        self.compute_output_shape(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape: Any) -> Shape:
        if symbolic.is_shape(input_shape) or not input_shape:
            raise ShapeError(
                f"{self.name} expects a list of inputs; received input shape {input_shape}."
            )
        shapes = [tuple(s) for s in input_shape]
        rank = len(shapes[0])
        axis = self.axis % rank if -rank <= self.axis < rank else None
        if axis is None or any(len(s) != rank for s in shapes):
            raise ShapeError(
                f"{self.name} expected inputs of one rank with axis={self.axis} in range; "
                f"received shapes {', '.join(shape_str(s) for s in shapes)}."
            )
        output: list[int | None] = []
        for index, sizes in enumerate(zip(*shapes)):
            if index == axis:
                output.append(None if None in sizes else sum(sizes))
                continue
            known = {d for d in sizes if d is not None}
            if len(known) > 1:
                raise ShapeError(
                    f"{self.name} expected inputs that agree on every axis but axis={self.axis}; "
                    f"received shapes {', '.join(shape_str(s) for s in shapes)}."
                )
            output.append(known.pop() if known else None)
        return tuple(output)

    def compute_mask(self, inputs: Any, mask: Any = None) -> torch.Tensor | None:
        masks = _input_masks(inputs, mask)
        if masks is None or all(m is None for m in masks):
            return None
        full = []
        for x, m in zip(inputs, masks):
            if m is None:
                full.append(torch.ones(x.shape, dtype=torch.bool, device=x.device))
            elif m.dim() < x.dim():
                full.append(m.bool().unsqueeze(-1).expand(x.shape))  # (samples, ..., features)
            else:
                full.append(m.bool())
        return torch.cat(full, dim=self.axis).any(dim=-1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}


def concatenate(inputs: Sequence[Any], axis: int = -1, **kwargs: Any) -> Any:
    """`Concatenate(axis=axis, **kwargs)(inputs)`, Keras's functional form."""
    return Concatenate(axis=axis, **kwargs)(inputs)


def add(inputs: Sequence[Any], **kwargs: Any) -> Any:
    """`Add(**kwargs)(inputs)`, Keras's functional form."""
    return Add(**kwargs)(inputs)


def subtract(inputs: Sequence[Any], **kwargs: Any) -> Any:
    """`Subtract(**kwargs)(inputs)`, Keras's functional form."""
    return Subtract(**kwargs)(inputs)


def multiply(inputs: Sequence[Any], **kwargs: Any) -> Any:
    """`Multiply(**kwargs)(inputs)`, Keras's functional form."""
    return Multiply(**kwargs)(inputs)


def average(inputs: Sequence[Any], **kwargs: Any) -> Any:
    """`Average(**kwargs)(inputs)`, Keras's functional form."""
    return Average(**kwargs)(inputs)


def _input_masks(inputs: Any, mask: Any) -> list[Any] | None:
    # Masks travel on the tensors; a list passed as `mask=` wins, as in Keras.
    if mask is not None:
        if not isinstance(mask, (list, tuple)) or len(mask) != len(inputs):
            raise ShapeError(
                f"`mask` for a merge must be a list with one entry per input ({len(inputs)}); "
                f"received {type(mask).__name__}."
            )
        return list(mask)
    if not isinstance(inputs, (list, tuple)):
        return None
    return [get_mask(x) for x in inputs]


def _expand_to(x: torch.Tensor, rank: int) -> torch.Tensor:
    while x.dim() < rank:
        x = x.unsqueeze(1)  # a size-1 axis after the samples axis, as Keras adds
    return x


def _expand_shape(shape: Shape, rank: int) -> Shape:
    return (shape[0], *([1] * (rank - len(shape))), *shape[1:]) if shape else shape
