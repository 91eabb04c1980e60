"""Merge layers for models with several branches: `Concatenate`, `Add`, `Subtract`, `Multiply`,
`Average`, `Maximum`, `Minimum` and `Dot`, with Keras's functional forms (`add`, `dot`, ...)."""

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


class Maximum(Merge):
    """The element-wise maximum of the inputs.

    A masked entry takes the other inputs' value, so it never wins over a valid one
    (Keras's rule); the output's mask is the OR of the masks when every input has one.

    Example:
        >>> Maximum()([torch.tensor([[1.0, 5.0]]), torch.tensor([[3.0, 2.0]])])
        tensor([[3., 5.]])
    """

    def _merge(self, tensors: list[torch.Tensor], masks: list[Any]) -> torch.Tensor:
        return _masked_fold(torch.maximum, tensors, masks)


class Minimum(Merge):
    """The element-wise minimum of the inputs; masks as `Maximum`.

    Example:
        >>> Minimum()([torch.tensor([[1.0, 5.0]]), torch.tensor([[3.0, 2.0]])])
        tensor([[1., 2.]])
    """

    def _merge(self, tensors: list[torch.Tensor], masks: list[Any]) -> torch.Tensor:
        return _masked_fold(torch.minimum, tensors, masks)


def _masked_fold(op: Any, tensors: list[torch.Tensor], masks: list[Any]) -> torch.Tensor:
    # Keras's _apply_merge_op_and_or_mask: masked entries are replaced by the running result
    # (or it by them), since max and min have no identity value to put there.
    output, output_mask = tensors[0], _broadcast_mask(masks[0], tensors[0])
    for x, m in zip(tensors[1:], masks[1:]):
        mask = _broadcast_mask(m, x)
        if mask is not None:
            x = torch.where(mask, x, output)
        if output_mask is not None:
            output = torch.where(output_mask, output, x)
        output_mask = output_mask | mask if mask is not None and output_mask is not None else None
        output = op(output, x)
    return output


def _broadcast_mask(mask: Any, x: torch.Tensor) -> torch.Tensor | None:
    if mask is None:
        return None
    return torch.as_tensor(mask, device=x.device).bool().unsqueeze(-1).expand(x.shape)


class Dot(Layer):
    """The dot product of two inputs per sample, over one axis of each (Keras's `batch_dot`).

    Args:
        axes: one axis for both inputs, or `(axis_of_first, axis_of_second)`; never 0 (the
            samples axis). The two axes must have the same size.
        normalize: L2-normalize both inputs along those axes first, giving the cosine
            proximity.

    Shapes:
        inputs `[(samples, *a), (samples, *b)]`; output `(samples, *a without its axis,
        *b without its axis)`, or `(samples, 1)` when nothing else is left. No mask comes out.

    Example:
        >>> Dot(axes=1)([torch.ones(2, 3), torch.ones(2, 3)])
        tensor([[3.],
                [3.]])
        >>> Dot(axes=(1, 2))([torch.zeros(2, 3, 5), torch.zeros(2, 10, 3)]).shape
        torch.Size([2, 5, 10])
    """

    supports_masking = True
    _config_options = ("axes", "normalize")

    def __init__(self, axes: int | Sequence[int], normalize: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(axes, bool) or not isinstance(axes, (int, list, tuple)):
            raise ConfigError(
                f"Invalid type for argument `axes`: it should be a list or an int. "
                f"Received: axes={axes!r}"
            )
        if isinstance(axes, (list, tuple)):
            if len(axes) != 2 or any(isinstance(a, bool) or not isinstance(a, int) for a in axes):
                raise ConfigError(
                    "Invalid format for argument `axes`: it should contain two integers. "
                    f"Received: axes={axes!r}"
                )
            axes = list(axes)
        self.axes = axes
        self.normalize = bool(normalize)

    def _axes(self, shapes: list[Shape]) -> tuple[int, int]:
        if symbolic.is_shape(shapes) or len(shapes) != 2:
            raise ShapeError(
                f"A `Dot` layer should be called on a list of 2 inputs. Received: "
                f"input_shape={shapes}"
            )
        first, second = shapes
        if len(first) < 2 or len(second) < 2:
            raise ShapeError(
                f"{self.name} needs inputs of shape (samples, ...) with at least one axis beside "
                f"the samples; received {shape_str(first)} and {shape_str(second)}."
            )
        pair = [self.axes, self.axes] if isinstance(self.axes, int) else self.axes
        axes = (pair[0] % len(first), pair[1] % len(second))
        if 0 in axes or not all(-len(s) <= a < len(s) for a, s in zip(pair, shapes)):
            raise ShapeError(
                f"{self.name}: axes={self.axes} must name axes other than the samples axis (0) of "
                f"inputs of shapes {shape_str(first)} and {shape_str(second)}."
            )
        a, b = first[axes[0]], second[axes[1]]
        if a is not None and b is not None and a != b:
            raise ShapeError(
                f"Incompatible input shapes: axis values {a} (at axis {axes[0]}) != {b} (at axis "
                f"{axes[1]}). Full input shapes: {shape_str(first)}, {shape_str(second)}"
            )
        return axes

    def build(self, input_shape: Any) -> None:
        self._axes(
            [tuple(s) for s in input_shape] if not symbolic.is_shape(input_shape) else input_shape
        )
        self.built = True

    def forward(self, inputs: Sequence[Any]) -> torch.Tensor:
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise ShapeError(
                f"{self.name} expects a list of 2 inputs, e.g. Dot(axes=1)([a, b]); received "
                f"{type(inputs).__name__}{f' of length {len(inputs)}' if isinstance(inputs, (list, tuple)) else ''}."
            )
        x, y = (as_input(t) for t in inputs)
        a0, a1 = self._axes([tuple(x.shape), tuple(y.shape)])
        if self.normalize:
            x, y = _l2_normalize(x, a0), _l2_normalize(y, a1)
        x = x.movedim(a0, -1)  # (samples, *a_rest, k)
        y = y.movedim(a1, 1)  # (samples, k, *b_rest)
        rest = (*x.shape[1:-1], *y.shape[2:])
        flat = x.reshape(x.shape[0], -1, x.shape[-1]) @ y.reshape(y.shape[0], y.shape[1], -1)
        return flat.reshape(x.shape[0], *(rest or (1,)))  # (samples, *a_rest, *b_rest)

    def compute_output_shape(self, input_shape: Any) -> Shape:
        shapes = (
            [tuple(s) for s in input_shape] if not symbolic.is_shape(input_shape) else input_shape
        )
        a0, a1 = self._axes(shapes)
        first = [d for i, d in enumerate(shapes[0]) if i != a0]
        second = [d for i, d in enumerate(shapes[1]) if i not in (0, a1)]
        output = first + second
        return tuple(output + [1] if len(output) == 1 else output)

    def compute_mask(self, inputs: Any, mask: Any = None) -> None:
        return None  # Keras's Dot drops masks


def _l2_normalize(x: torch.Tensor, axis: int) -> torch.Tensor:
    # Keras: x * min(rsqrt(sum(x^2)), 1 / epsilon), epsilon = 1e-7.
    inverse_norm = torch.rsqrt(x.square().sum(dim=axis, keepdim=True))
    return x * torch.clamp(inverse_norm, max=1e7)


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
    _config_options = ("axis",)

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


def maximum(inputs: Sequence[Any], **kwargs: Any) -> Any:
    """`Maximum(**kwargs)(inputs)`, Keras's functional form."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs: Sequence[Any], **kwargs: Any) -> Any:
    """`Minimum(**kwargs)(inputs)`, Keras's functional form."""
    return Minimum(**kwargs)(inputs)


def dot(inputs: Sequence[Any], axes: int | Sequence[int] = -1, **kwargs: Any) -> Any:
    """`Dot(axes=axes, **kwargs)(inputs)`, Keras's functional form (`normalize=` goes to Dot)."""
    return Dot(axes=axes, **kwargs)(inputs)


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
