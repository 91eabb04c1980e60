"""What a model accepts as input: numeric arrays or tensors of the shape it was built for.

A wrong shape is refused with the one fix that fits the mismatch, in the seeds' words.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from unrolled.errors import InputTypeError, ShapeError, shape_str

Shape = tuple[int | None, ...]


def as_model_input(value: Any, model: str) -> torch.Tensor:
    """Data for a model input as a tensor: floats as float32 (Keras), integers kept for Embedding."""
    if isinstance(value, torch.Tensor):
        tensor = value
    else:
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise InputTypeError(
                f"{model}: inputs must be numeric; received an array of dtype {array.dtype}."
            )
        # A read-only array is copied: torch warns on it and could write through it.
        tensor = torch.from_numpy(array if array.flags.writeable else array.copy())
    if tensor.is_floating_point() and tensor.dtype != torch.get_default_dtype():
        tensor = tensor.to(torch.get_default_dtype())
    return tensor


def check_input_shape(
    model: str, expected: Shape, received: tuple[int, ...], samples: bool = False
) -> None:
    """Raises `ShapeError` unless `received` has `expected`'s axes (None: any size).

    `samples=True` also checks the samples axis, as a functional model does for an `Input`
    with a fixed batch size; whole arrays before batching, and `Sequential`, skip it.
    """
    first = 0 if samples else 1
    if len(received) != len(expected) or any(
        e is not None and e != g for e, g in zip(expected[first:], received[first:])
    ):
        raise ShapeError(input_shape_message(model, expected, received))


def shape_from_data(shape: tuple[int, ...]) -> Shape:
    """The input shape a model without one builds for from its first array: only the features
    axis is fixed, as if `Input((None, ..., features))`."""
    return (
        (None, *([None] * (len(shape) - 2)), shape[-1]) if len(shape) >= 3 else (None, *shape[1:])
    )


def build_from_data(model: Any, shape: tuple[int, ...]) -> None:
    """Builds a model without an input shape for its first array `shape`.

    Only the features axis is fixed where the layers allow it, so a recurrent model takes
    other timesteps later. Layers that need the other sizes (`Flatten -> Dense`, `PReLU`,
    `Conv2D` frames into a `ConvLSTM2D`) build for the array's own shape instead, as Keras
    builds every model without an `Input`.
    """
    try:
        model.build(shape_from_data(shape))
    except ShapeError:
        model.build((None, *shape[1:]))


def input_shape_message(model: str, expected: Shape, received: tuple[int, ...]) -> str:
    """The error for inputs of the wrong shape, with the one fix that fits the mismatch."""
    # Beyond 3 axes the middle ones depend on the first layer (rows and cols, or timesteps
    # and width for a ConvLSTM1D); the samples and channels axes are the same for all.
    legend = {3: " (samples, timesteps, features)"}.get(
        len(expected), " (samples, ..., channels)" if len(expected) > 3 else ""
    )
    message = (
        f"{model} expects inputs `x` of shape {shape_str(expected)}{legend}, None for any size; "
        f"received {shape_str(received)}."
    )
    if len(received) + 1 == len(expected) == 3:
        samples, steps = received[0], received[-1]
        if expected[1] in (None, steps) and expected[2] == 1:
            return f"{message} Add the features axis: x.reshape({samples}, {steps}, 1)."
        if expected[1] in (None, 1) and expected[2] == steps:
            return f"{message} Add the timesteps axis: x.reshape({samples}, 1, {steps})."
    if len(received) == len(expected) == 3:
        if expected[2] is not None and received[2] != expected[2]:
            built, given = (
                f"{n} feature{'' if n == 1 else 's'}" for n in (expected[2], received[2])
            )
            return (
                f"{message} The model was built for {built} per timestep and x has {given}; "
                f"pass the columns it was trained on (a model for {given} is a new model)."
            )
        if expected[1] is not None and received[1] != expected[1]:
            return (
                f"{message} The model takes windows of {expected[1]} timesteps: cut x with "
                f"windows(series, look_back={expected[1]}), or use Input((None, features)) for "
                "any length."
            )
    if len(received) == len(expected) > 3 and expected[-1] not in (None, received[-1]):
        return (
            f"{message} The model was built for {expected[-1]} channels on the last axis and "
            f"x has {received[-1]}; pass the channels it was built for."
        )
    return message
